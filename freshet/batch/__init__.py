"""Batch refresh (Octogen's contract): accepting up to 500 targets as one workflow, resolving
targets against granted catalogs, the fan-out paced per host, the workflow resource, the
signed webhook when it ends, and the worker's side of one target. Target resolution, the
batch handler, pacing and webhook signing are public: monitors build on them."""

from freshet.batch.ending import cancel, sweep_workflows
from freshet.batch.submission import (
    catalog_params,
    check_callback,
    invalid,
    resolve_targets,
    submit,
)
from freshet.batch.targets import Accepted, Resolution
from freshet.batch.view import by_request_id as workflow_by_request
from freshet.batch.view import listing as list_workflows
from freshet.batch.view import parse_id, view
from freshet.batch.webhooks import SIGNATURE_HEADER, deliver, org_signature, verify
from freshet.batch.worker import HANDLER
from freshet.batch.workflows import launch, paced

__all__ = [
    "HANDLER",
    "SIGNATURE_HEADER",
    "Accepted",
    "Resolution",
    "cancel",
    "catalog_params",
    "check_callback",
    "deliver",
    "invalid",
    "launch",
    "list_workflows",
    "org_signature",
    "paced",
    "parse_id",
    "resolve_targets",
    "submit",
    "sweep_workflows",
    "verify",
    "view",
    "workflow_by_request",
]

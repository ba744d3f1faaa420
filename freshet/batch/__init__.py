"""Batch refresh (Octogen's contract): accepting up to 500 targets as one workflow, resolving
targets against granted catalogs, the fan-out paced per host, the workflow resource, the
signed webhook when it ends, and the worker's side of one target."""

from freshet.batch.ending import cancel, sweep_workflows
from freshet.batch.submission import check_callback, invalid, submit
from freshet.batch.view import by_request_id as workflow_by_request
from freshet.batch.view import listing as list_workflows
from freshet.batch.view import parse_id, view
from freshet.batch.webhooks import deliver
from freshet.batch.worker import HANDLER
from freshet.batch.workflows import launch

__all__ = [
    "HANDLER",
    "cancel",
    "check_callback",
    "deliver",
    "invalid",
    "launch",
    "list_workflows",
    "parse_id",
    "submit",
    "sweep_workflows",
    "view",
    "workflow_by_request",
]

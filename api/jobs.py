"""The job resource: status for every kind of job, and durable cancel."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from api.auth import requires_key, runtime
from api.docs import doc
from api.idempotency import idempotent
from freshet import jobs
from freshet.errors import BadRequest, Conflict, NotFoundError
from freshet.jobs import cancel_job
from schemas.common import ErrorSchema
from schemas.jobs import STATUS_WORDS, JobSchema

bp = Blueprint("jobs", __name__)
_job = JobSchema()
MAX_ID = 2**63 - 1
# What the spec states of a job id: what parse_job_id accepts (past MAX_ID it is a 404).
JOB_ID = {"pattern": "^[0-9]{1,19}$", "example": "12345"}


def parse_job_id(raw: str) -> int:
    # ASCII only: str.isdigit() also accepts '²' and other digits int() refuses (a 500).
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(
            "The job id must be a number, as returned in jobId.",
            title="Invalid job ID",
            code="invalid_job_id",
        )
    # Longer than any bigint: not found, before int() meets Python's 4300-digit limit.
    # Leading zeros are stripped first: "0" * 5000 is a number int() refuses too.
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        raise _not_found()
    return int(digits)


def _not_found() -> NotFoundError:
    return NotFoundError(
        "No job with this id exists for your organization.",
        title="Job not found",
        code="job_not_found",
    )


def job_json(job: dict[str, Any]) -> dict[str, Any]:
    result = job.get("result") or {}
    status = STATUS_WORDS[job["status"]]
    dumped: dict[str, Any] = _job.dump(  # marshmallow leaves Schema.dump's return unannotated
        {
            "jobId": job["id"],
            "kind": job["kind"],
            "asin": job.get("asin"),
            "productTitle": result.get("productTitle"),
            "status": status,
            "createdAt": job["created_at"],
            "updatedAt": job["updated_at"],
            "marketplace": job.get("marketplace"),
            "error": job.get("error"),
            "reviewsFound": result.get("reviewsFound"),
            "startedAt": job.get("started_at"),
            "finishedAt": job.get("finished_at"),
            "attempt": job.get("attempt"),
            "workflowId": str(job["workflow_id"]) if job.get("workflow_id") else None,
            "url": job.get("url"),
            "productId": str(job["product_id"]) if job.get("product_id") else None,
        }
    )
    return dumped


def load_job(raw_id: str) -> dict[str, Any]:
    job_id = parse_job_id(raw_id)
    with runtime().engine.connect() as conn:
        job = jobs.get(conn, job_id, g.principal.org_id)
    if job is None:
        raise _not_found()
    return job


@bp.get("/api/v1/jobs/<job_id>")
@bp.get("/v1/jobs/<job_id>")
@doc(
    "A job's status",
    path={"job_id": JOB_ID},
    tag="jobs",
    responses={200: JobSchema, 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema},
)
@requires_key(reads=True)
def show(job_id: str) -> Response:
    return jsonify(job_json(load_job(job_id)))


@bp.post("/v1/jobs/<job_id>/cancel")
@doc(
    "Cancel a queued or running job",
    path={"job_id": JOB_ID},
    tag="jobs",
    responses={200: JobSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema},
)
@requires_key(reads=True)
@idempotent
def cancel(job_id: str) -> Response:
    job = load_job(job_id)
    cancelled = cancel_job(runtime(), job["id"], g.principal.org_id)
    if cancelled is None:
        current = load_job(job_id)
        if current["status"] == "cancelled":
            return jsonify(job_json(current))
        raise Conflict(
            f"The job is already {current['status']}; only queued or running jobs "
            "can be cancelled.",
            title="Job not cancellable",
            code="not_cancellable",
        )
    return jsonify(job_json(cancelled))

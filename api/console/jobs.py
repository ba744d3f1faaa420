"""Jobs: review, product and batch-target jobs newest first with their status, one job with
its reason, cancel (its organization or an operator) and retry (operators), POST + CSRF."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from api.auth import runtime
from api.console.base import bp, next_url, page, page_args, posted, principal, scope, signed_in
from freshet import jobs
from freshet.errors import FreshetError, NotFoundError
from store.tables import JOB_STATUSES

KINDS = {"reviews": ("reviews",), "products": ("product",), "batch": ("batch_target",)}
WITHIN = {"1h": dt.timedelta(hours=1), "1d": dt.timedelta(days=1), "7d": dt.timedelta(days=7)}
MAX_ID = 2**63 - 1


def _not_found() -> NotFoundError:
    return NotFoundError("No job with this id exists for your organization.", title="Not found")


def _job_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        raise _not_found()
    return int(raw)


def load(raw: str) -> dict[str, Any]:
    with runtime().engine.connect() as conn:
        job = jobs.get(conn, _job_id(raw), scope())
    if job is None:
        raise _not_found()
    return job


@bp.get("/jobs")
@signed_in
def job_list() -> str:
    limit, cursor = page_args()
    kind = request.args.get("kind", "")
    asin = request.args.get("asin", "")[:64] or None
    status = request.args.get("status", "")
    within = request.args.get("within", "")
    with runtime().engine.connect() as conn:
        rows, nxt = jobs.list_jobs(
            conn,
            scope(),
            kinds=KINDS.get(kind, ()),
            status=status if status in JOB_STATUSES else None,
            within=WITHIN.get(within),
            asin=asin,
            limit=limit,
            cursor=cursor,
        )
    return page(
        "jobs.html",
        jobs=rows,
        next_url=next_url(nxt),
        kinds=KINDS,
        statuses=JOB_STATUSES,
        withins=WITHIN,
        chosen={"kind": kind, "status": status, "within": within, "asin": asin or ""},
    )


@bp.get("/jobs/<job_id>")
@signed_in
def job_detail(job_id: str) -> str:
    job = load(job_id)
    return page("job.html", job=job, notice=request.args.get("notice"))


@bp.post("/jobs/<job_id>/cancel")
@posted
def job_cancel(job_id: str) -> WerkzeugResponse:
    job = load(job_id)
    done = jobs.cancel_job(runtime(), job["id"], job["org_id"])
    notice = "cancelled" if done is not None else "not_cancellable"
    return redirect(url_for("console.job_detail", job_id=job["id"], notice=notice), code=303)


@bp.post("/jobs/<job_id>/retry")
@posted
def job_retry(job_id: str) -> WerkzeugResponse:
    if not principal().operator:
        raise FreshetError("Only an operator key can retry jobs.", status=403, title="Forbidden")
    job = load(job_id)
    [(_, new_id, outcome)] = list(jobs.retry_jobs(runtime(), [job["id"]]))
    if new_id is None:
        return redirect(url_for("console.job_detail", job_id=job["id"], notice=outcome), code=303)
    return redirect(url_for("console.job_detail", job_id=new_id, notice="retried"), code=303)

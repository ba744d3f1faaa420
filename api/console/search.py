"""Search by business id — organization (operators), jobId, workflowId, request id, ASIN,
item id, UPC/EAN/GTIN, URL or product uuid — landing on the thing when exactly one matches.
A customer's search sees only its own organization; an operator's sees every one."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import Connection

from api.auth import runtime
from api.console.base import bp, page, principal, scope, signed_in
from freshet import accounts, batch, jobs, products
from freshet.errors import FreshetError

MAX_QUERY = 2000
MAX_ID = 2**63 - 1


@bp.get("/search")
@signed_in
def search() -> Any:
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    matches = find(q) if q else []
    if len(matches) == 1:
        return redirect(matches[0][1], code=303)
    return page("search.html", q=q, matches=matches)


def find(q: str) -> list[tuple[str, str]]:
    """(what it is, where it is) for everything `q` names, without duplicates."""
    found: dict[str, str] = {}
    with runtime().engine.connect() as conn:
        for label, href in _matches(conn, q):
            found.setdefault(href, label)
    return [(label, href) for href, label in found.items()]


def _matches(conn: Connection, q: str) -> list[tuple[str, str]]:
    me, org = principal(), scope()
    out: list[tuple[str, str]] = []
    if me.operator and accounts.org_principal(conn, q) is not None:
        out.append((f"Organization {q}", url_for("console.index", org=q)))
    if q.isascii() and q.isdigit() and len(q) <= 19 and int(q) <= MAX_ID:
        job = jobs.get(conn, int(q), org)
        if job is not None:
            out.append((f"Job {job['id']} ({job['kind']}, {job['status']})", _job(job["id"])))
    wid = batch.parse_id(q)
    if wid is not None and batch.view(conn, wid, org, limit=1) is not None:
        out.append((f"Workflow {wid}", url_for("console.workflow_detail", workflow_id=str(wid))))
    by_request = batch.workflow_by_request(conn, q, org)
    if by_request is not None:
        href = url_for("console.workflow_detail", workflow_id=str(by_request))
        out.append((f"Workflow {by_request} of request {q}", href))
    else:  # a batch request's jobs are its workflow's targets: the workflow is the answer
        for job_id in jobs.job_ids_by_request(conn, q, org):
            out.append((f"Job {job_id} of request {q}", _job(job_id)))
    rows, _ = jobs.list_jobs(conn, org, asin=q, limit=1)
    if rows:
        out.append((f"Review jobs for ASIN {q}", url_for("console.job_list", asin=q)))
    for p in products.find_products(conn, q, None if me.operator else me):
        out.append((f"Product {p.title or p.url or p.id}", _product(str(p.id))))
    try:
        stored = products.stored(conn, runtime().settings, me, q)
    except FreshetError:  # not an id the product API takes, or not in the caller's catalogs
        stored = None
    if stored is not None:
        out.append((f"Product {stored['title'] or q}", _product(stored["product_id"])))
    return out


def _job(job_id: int) -> str:
    return url_for("console.job_detail", job_id=job_id)


def _product(product_id: str) -> str:
    return url_for("console.product_detail", product_id=product_id)

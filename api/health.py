"""Liveness and readiness probes."""

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from api.auth import runtime
from api.docs import doc
from store.db import current_revision, head_revision

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@doc("The process is up", tag="health", auth=False)
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@doc("Postgres and Redis reachable, migrations at head", tag="health", auth=False)
def readyz() -> tuple[Response, int]:
    rt = runtime()
    checks: dict[str, str] = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        rev, head = current_revision(rt.engine), head_revision(rt.settings.database_url)
        checks["postgres"] = "ok"
        checks["migrations"] = "ok" if rev == head else f"at {rev}, head is {head}"
    except Exception as exc:
        checks["postgres"] = f"unavailable: {type(exc).__name__}"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    resp = jsonify({"status": "ready" if ok else "unavailable", "checks": checks})
    if not ok:
        resp.headers["Retry-After"] = "5"
    return resp, 200 if ok else 503

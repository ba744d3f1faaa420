"""Signing in and out, and the home page: the month's usage with each limit as a bar; for
operators also the broker's queue depths and the last day's failed jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from flask import current_app, make_response, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from api.auth import runtime
from api.console import session
from api.console.base import bp, page, posted, principal
from freshet import accounts, hosts, jobs
from freshet.errors import NotFoundError

LOGIN_TTL = 3600
FAILED_ON_HOME = 20


@bp.get("")
def index() -> Any:
    if session.current() is None:
        return _login_form()
    me = principal()
    who = me
    org_name = request.args.get("org")
    if org_name and me.operator:
        with runtime().engine.connect() as conn:
            found = accounts.org_principal(conn, org_name)
        if found is None:
            raise NotFoundError(f"No organization is named {org_name!r}.", title="Not found")
        who = found
    usage = accounts.report(runtime(), who)
    context: dict[str, Any] = {"usage": usage, "bars": bars(usage), "viewing": who}
    if me.operator:
        with runtime().engine.connect() as conn:
            failed, _ = jobs.list_jobs(
                conn, None, status="failed", within=dt.timedelta(days=1), limit=FAILED_ON_HOME
            )
        context |= {"queues": queue_depths(), "failed": failed, "hosts": host_politeness()}
    return page("home.html", **context)


def _login_form(error: str | None = None, status: int = 200) -> WerkzeugResponse:
    token = session.login_token()
    resp = make_response(page("login.html", csrf=token, error=error), status)
    session.set_cookie(resp, session.LOGIN_COOKIE, token, LOGIN_TTL)
    return resp


@bp.post("/login")
def login() -> WerkzeugResponse:
    session.check_csrf(request.cookies.get(session.LOGIN_COOKIE, ""))
    session.admit_login()
    key = request.form.get("api_key", "").strip()
    with runtime().engine.connect() as conn:
        found = accounts.authenticate(conn, key) if key else None
    if found is None:
        # The key is never put back into the form: the field comes back empty.
        return _login_form("That API key is unknown or revoked.", 401)
    resp = redirect(url_for("console.index"), code=303)
    session.start(found, resp)
    return resp


@bp.post("/logout")
@posted
def logout() -> WerkzeugResponse:
    resp = redirect(url_for("console.index"), code=303)
    session.end(resp)
    return resp


def bars(usage: dict[str, Any]) -> list[dict[str, Any]]:
    """Each limit as (label, used, limit, percent used) for the bars."""
    out = []
    for label, item in (
        ("Tokens this month", usage["tokens"]),
        ("Review jobs this month", usage["reviewJobs"]),
    ):
        out.append(_bar(label, item["limit"] - item["remaining"], item["limit"]))
    names = {
        "requestsPerMinute": "Requests this minute",
        "forceRefreshesPerMinute": "Force refreshes this minute",
        "concurrentJobs": "Concurrent review jobs",
    }
    for key, label in names.items():
        item = usage["limits"][key]
        out.append(_bar(label, item["limit"] - item["remaining"], item["limit"]))
    return out


def _bar(label: str, used: int, limit: int) -> dict[str, Any]:
    used = max(int(used), 0)
    pct = min(100, round(100 * used / limit)) if limit > 0 else 100
    return {"label": label, "used": used, "limit": limit, "pct": pct}


def host_politeness() -> list[dict[str, Any]] | None:
    """Each upstream host's adaptive politeness (rate, ceiling, pause), from Redis; None when
    Redis cannot be read."""
    try:
        return hosts.host_states(runtime())
    except redis.RedisError:
        return None


def queue_depths() -> dict[str, Any] | None:
    """Messages waiting per queue and unacknowledged, from the broker (as /metrics reads them);
    None when the broker is not the Redis this process can see."""
    collector = current_app.extensions.get("freshet.queue_depth")
    if collector is None:
        return None
    families = list(collector.collect())
    if not families:
        return None
    depth = {s.labels["queue"]: int(s.value) for s in families[0].samples}
    return {"queues": depth, "unacked": int(families[1].samples[0].value)}

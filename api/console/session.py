"""Console sessions: server-side in Redis (under the runtime's key prefix, with a TTL), the
cookie holding only a random id. The session keeps the key's id, never the key; CSRF tokens
for every form; a Redis-guarded limit on sign-in attempts per client address."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from flask import g, request
from werkzeug.wrappers import Response

from api.auth import runtime
from freshet import accounts
from freshet.accounts import Principal
from freshet.errors import BadRequest, RateLimited
from guards import RateWindow

COOKIE = "freshet_console"
LOGIN_COOKIE = "freshet_console_login"  # the sign-in form's CSRF token, before any session
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    principal: Principal


def _redis_key(sid: str) -> str:
    # Stored under the id's digest: a Redis dump yields no cookie that signs anyone in.
    return f"{runtime().prefix}console:session:{hashlib.sha256(sid.encode()).hexdigest()}"


def current() -> Session | None:
    """The request's session (read once per request), or None."""
    if "console" in g:
        return g.console  # type: ignore[no-any-return]
    found = _load(request.cookies.get(COOKIE, ""))
    g.console = found
    return found


def _load(sid: str) -> Session | None:
    if not (0 < len(sid) <= 128):
        return None
    rt = runtime()
    raw = rt.redis.get(_redis_key(sid))
    if raw is None:
        return None
    data = json.loads(raw)
    with rt.engine.connect() as conn:
        principal = accounts.principal_of_key(conn, int(data["key_id"]))
    if principal is None:  # the key was revoked: the session ends with it
        rt.redis.delete(_redis_key(sid))
        return None
    return Session(sid, str(data["csrf"]), principal)


def start(principal: Principal, resp: Response) -> None:
    """A new session (a new id, so a planted cookie is never promoted) and its cookie."""
    rt = runtime()
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ttl = rt.settings.console_session_seconds
    rt.redis.set(_redis_key(sid), json.dumps({"key_id": principal.key_id, "csrf": csrf}), ex=ttl)
    set_cookie(resp, COOKIE, sid, ttl)
    resp.delete_cookie(LOGIN_COOKIE, path="/console")


def end(resp: Response) -> None:
    sid = request.cookies.get(COOKIE, "")
    if sid:
        runtime().redis.delete(_redis_key(sid))
    resp.delete_cookie(COOKIE, path="/console")
    g.console = None


def set_cookie(resp: Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


def login_token() -> str:
    """The sign-in form's CSRF token: the one in the visitor's cookie, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    return token if 20 <= len(token) <= 64 else secrets.token_urlsafe(32)


def check_csrf(expected: str) -> None:
    sent = request.form.get(CSRF_FIELD, "")
    if not (expected and sent and hmac.compare_digest(sent.encode(), expected.encode())):
        raise BadRequest(
            "The form is stale or did not come from this console; reload the page and try again.",
            title="Invalid form token",
            code="csrf_failed",
        )


def admit_login() -> None:
    """At most FRESHET_CONSOLE_LOGINS_PER_MINUTE attempts per client address (atomic, Redis)."""
    rt = runtime()
    window = RateWindow(
        f"console:login:{request.remote_addr or 'unknown'}", rt.settings.console_logins_per_minute
    )
    adm = rt.guards.admit([window])
    if not adm.ok:
        raise RateLimited(
            "Too many sign-in attempts from this address; wait a minute and try again.",
            title="Too many sign-in attempts",
            code="rate_limited",
            retry_after=adm.retry_after,
        )

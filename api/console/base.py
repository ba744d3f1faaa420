"""The console's blueprint, its security headers, its HTML error pages and the helpers every
page group shares (the signed-in principal, the organization an operator looks at, paging)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from api.console import session
from freshet.accounts import Principal
from freshet.errors import FreshetError

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

# No inline script or style anywhere: the one stylesheet and the one script are files here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_SIZES = (10, 25, 50, 100)


@bp.after_request
def _security_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "console.static":
        resp.headers["Cache-Control"] = "no-store"  # pages carry one organization's data
    if request.is_secure:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
    return resp


@bp.errorhandler(FreshetError)
def _domain_error(err: FreshetError) -> tuple[str, int, dict[str, str]]:
    headers = {"Retry-After": str(math.ceil(err.retry_after))} if err.retry_after else {}
    body = page("error.html", status=err.status, title=err.title, message=err.message)
    return body, err.status, headers


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> tuple[str, int]:
    status = err.code or 500
    return page("error.html", status=status, title=err.name, message=err.description), status


def page(template: str, **context: Any) -> str:
    return render_template(f"console/{template}", me=g.get("console"), **context)


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page needs a session: without one, back to the sign-in form."""

    @functools.wraps(view)
    def inner(*args: Any, **kwargs: Any) -> Any:
        if session.current() is None:
            return redirect(url_for("console.index"), code=303)
        return view(*args, **kwargs)

    return inner


def posted(view: Callable[..., Any]) -> Callable[..., Any]:
    """A signed-in POST: the form's CSRF token must be the session's."""

    @functools.wraps(view)
    def inner(*args: Any, **kwargs: Any) -> Any:
        current = session.current()
        if current is None:
            return redirect(url_for("console.index"), code=303)
        session.check_csrf(current.csrf)
        return view(*args, **kwargs)

    return inner


def principal() -> Principal:
    current = session.current()
    assert current is not None  # behind @signed_in
    return current.principal


def scope() -> int | None:
    """The organization whose rows a page may show: the caller's, or every one (operators)."""
    me = principal()
    return None if me.operator else me.org_id


def page_args() -> tuple[int, str | None]:
    """(page size, cursor) from the query string."""
    raw = request.args.get("limit", "25")
    limit = int(raw) if raw.isascii() and raw.isdigit() and int(raw) in PAGE_SIZES else 25
    cursor = request.args.get("cursor") or None
    return limit, cursor


def next_url(cursor: str | None) -> str | None:
    """This page's URL with the next cursor, every other argument kept."""
    if cursor is None:
        return None
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
    return url_for(str(request.endpoint), **(request.view_args or {}), **args, cursor=cursor)

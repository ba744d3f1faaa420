"""The bundled upstream simulator: a Flask app serving Amazon review pages, Walmart item
pages, Shopify products and schema.org shop pages for any well-formed id, with faults,
pinned prices and request statistics controlled through `/_sim/` (see simulator.admin)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, g, request, stream_with_context
from flask.typing import ResponseReturnValue

from simulator import admin, amazon, shopify, sites, walmart
from simulator.amazon import CAPTCHA_PAGE
from simulator.sites import NO_PRODUCT_PAGE
from simulator.state import SimState
from simulator.walmart import BOT_PAGE

MAX_BLOB = 50_000_000


def _site_of(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 2 and parts[1] in ("shops", "sites", "amazon"):
        return f"/{parts[1]}/{parts[2]}"
    return "/" + parts[1] if len(parts) > 1 else "/"


def _malformed(path: str) -> Response:
    """A page broken for its format: truncated JSON, a captcha, or HTML with no product."""
    if path.endswith((".json", ".js")):
        return Response('{"product": {"id": 1, "title": "Trunc', content_type="application/json")
    if path.startswith("/amazon/"):
        return Response(CAPTCHA_PAGE, content_type="text/html; charset=utf-8")
    if path.startswith("/walmart/"):
        return Response(BOT_PAGE, content_type="text/html; charset=utf-8")
    return Response(NO_PRODUCT_PAGE, content_type="text/html; charset=utf-8")


def _apply_faults() -> ResponseReturnValue | None:
    path = request.path
    if path.startswith("/_sim/"):
        return None
    state: SimState = g.sim_state
    state.stats.record(path, request.host, _site_of(path))
    faults = state.faults
    if not faults.applies_to(path):
        return None
    if faults.latency_ms > 0:
        time.sleep(faults.latency_ms / 1000)
    if state.chance(faults.error_rate):
        return Response(
            "<html><body><h1>Service Unavailable</h1></body></html>",
            status=faults.error_status,
            content_type="text/html",
        )
    if state.chance(faults.throttle_rate):
        return Response(
            "Too Many Requests", status=429, headers={"Retry-After": "1"}, content_type="text/plain"
        )
    if state.chance(faults.malformed_rate):
        return _malformed(path)
    return None


def redirect_to() -> ResponseReturnValue:
    """`/redirect?to=URL[&status=302]`: an open redirect, for testing clients' redirect rules."""
    status = request.args.get("status", "302")
    status_code = int(status) if status in ("301", "302", "303", "307", "308") else 302
    return Response("", status=status_code, headers={"Location": request.args.get("to", "/")})


def blob() -> ResponseReturnValue:
    """`/blob?bytes=N`: N filler bytes streamed without Content-Length (size-cap tests)."""
    size = min(max(int(request.args.get("bytes", "0") or 0), 0), MAX_BLOB)

    def chunks() -> Iterator[bytes]:
        remaining = size
        while remaining > 0:
            step = min(remaining, 65536)
            remaining -= step
            yield b"x" * step

    return Response(stream_with_context(chunks()), content_type="application/octet-stream")


def create_app(seed: int = 0, drift_seconds: float = 3600.0) -> Flask:
    """The simulator app; same seed, same pages. drift_seconds <= 0 turns price drift off."""
    app = Flask(__name__)
    state = SimState(seed=seed, drift_seconds=drift_seconds)
    app.extensions["simulator"] = state

    @app.before_request
    def before() -> ResponseReturnValue | None:
        g.sim_state = state
        return _apply_faults()

    for blueprint in (admin.bp, amazon.bp, walmart.bp, shopify.bp, sites.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/redirect", "redirect", redirect_to)
    app.add_url_rule("/blob", "blob", blob)
    return app

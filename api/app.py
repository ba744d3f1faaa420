"""The Flask app factory: the API's composition root."""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from api import (
    batch,
    console,  # the browser console (api/console/)
    docs_routes,
    events,
    health,
    jobs,
    metrics,
    monitors,
    products,
    reviews,
    usage,
    webhooks,
    workflows,
)
from api.auth import _PrincipalCache, add_rate_headers
from api.console import monitor_reads
from api.errors import register_error_handlers
from freshet import logs
from freshet.runtime import Publisher
from freshet.settings import Settings, load_settings
from freshet.wiring import build_runtime
from workers.celery_app import create_celery
from workers.publish import publisher_for


def create_app(
    settings: Settings | None = None, *, publisher: Publisher | None = None, **overrides: Any
) -> Flask:
    settings = settings or load_settings(**overrides)
    if publisher is None:
        publisher = publisher_for(create_celery(settings))
    rt = build_runtime(settings, publisher, pool_size=10)

    app = Flask("freshet")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's default provider
    app.extensions["freshet"] = rt
    app.extensions["freshet.auth_cache"] = _PrincipalCache()
    app.extensions[monitor_reads.EXTENSION] = monitor_reads.DomainMonitors()

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        rid = request.headers.get("X-Request-Id", "")
        g.request_id = rid if 0 < len(rid) <= 128 and rid.isprintable() else str(uuid.uuid4())
        g.log_ctx = logs.context(request_id=g.request_id)
        g.log_ctx.__enter__()
        # Every route refuses an oversized body up front, not only those that read it.
        if (request.content_length or 0) > settings.max_body_bytes:
            raise RequestEntityTooLarge()

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        return add_rate_headers(resp)

    @app.teardown_request
    def _teardown(_: BaseException | None) -> None:
        ctx = g.pop("log_ctx", None)
        if ctx is not None:
            ctx.__exit__(None, None, None)

    register_error_handlers(app)
    metrics.init_app(app)
    for module in (health, reviews, jobs, usage, products, batch, workflows, docs_routes, metrics):
        app.register_blueprint(module.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(monitors.bp)
    app.register_blueprint(events.bp)
    return app


def wsgi() -> Flask:
    """gunicorn 'api.app:wsgi()' — settings from the environment."""
    settings = load_settings()
    logs.configure_logging(settings)
    return create_app(settings)

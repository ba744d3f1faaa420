"""The baseline of measurement 5: a bare Flask endpoint doing one Redis GET, served by the same
gunicorn settings as the API (`gunicorn 'bench.bare_app:create()'`)."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response

KEY = "bench:bare:product"


def create() -> Flask:
    app = Flask("bench-bare")
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status": "ok"}', content_type="application/json")

    @app.get("/v1/products/<product_id>")
    def product(product_id: str) -> Response:
        body = client.get(KEY)
        if body is None:
            return Response(b'{"error": "not found"}', status=404, content_type="application/json")
        return Response(body, content_type="application/json")

    return app

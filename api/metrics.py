"""GET /metrics (Prometheus) and the per-request observation behind it: latency and status by
route, guard refusals by reason, and one JSON access-log line per request.

Unauthenticated, like /healthz: expose it on the internal network only (or block it at the
proxy). Multi-process safe when PROMETHEUS_MULTIPROC_DIR is set (see freshet/metrics.py).
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.docs import doc
from freshet import hosts, metrics, monitors
from freshet.errors import NotFoundError
from workers.metrics import QueueDepthCollector, broker_key_prefix
from workers.queues import QUEUES

bp = Blueprint("metrics", __name__)
access_log = logging.getLogger("freshet.access")

UNMATCHED = "<unmatched>"  # 404s by raw path would make a label per scanned URL


def init_app(app: Flask) -> None:
    rt = app.extensions["freshet"]
    if not rt.settings.metrics_enabled:
        return
    metrics.prepare_multiprocess_dir()
    app.extensions["freshet.queue_depth"] = _queue_collector(app)
    app.before_request(_start)
    app.after_request(_observe)


def _queue_collector(app: Flask) -> object | None:

    rt = app.extensions["freshet"]
    if rt.settings.broker_url != rt.settings.redis_url:
        return None  # a separate broker: its workers' metrics servers report its queues
    celery = getattr(rt.publisher, "app", None)
    prefix = broker_key_prefix(celery) if celery is not None else ""
    return QueueDepthCollector(rt.redis, QUEUES, prefix)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(resp: Response) -> Response:
    started = g.pop("metrics_started", None)
    seconds = time.perf_counter() - started if started is not None else 0.0
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    metrics.observe_request(request.method, route, resp.status_code, seconds)
    if resp.status_code == 429:
        metrics.guard_refused(_refusal_reason(resp))
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        resp.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": resp.status_code,
            "duration_ms": round(seconds * 1000, 2),
        },
    )
    return resp


def _refusal_reason(resp: Response) -> str:
    if not resp.is_json or resp.is_streamed:
        return "unknown"
    try:
        body = json.loads(resp.get_data())
    except ValueError:
        return "unknown"
    if not isinstance(body, dict):
        return "unknown"
    code = body.get("code") or body.get("detail")
    return code if isinstance(code, str) and len(code) <= 64 else "unknown"


@bp.get("/metrics")
@doc(
    "Prometheus metrics",
    tag="operations",
    auth=False,
    description="Requests by route and status with latency histograms, task outcomes and "
    "durations, upstream fetches by source, queue depths, guard refusals, monitors due and "
    "late, monitor events emitted and deliveries by result.",
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def scrape() -> Response:
    rt = current_app.extensions["freshet"]
    if not rt.settings.metrics_enabled:
        raise NotFoundError("Metrics are turned off (FRESHET_METRICS_ENABLED=false).")
    collector = current_app.extensions.get("freshet.queue_depth")
    extra = [collector] if collector is not None else []
    extra.append(hosts.HostCollector(rt))  # the hosts' politeness, read from Redis
    registry = metrics.scrape_registry(*extra, monitors.DueCollector(rt))
    return Response(
        generate_latest(registry), mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST}
    )

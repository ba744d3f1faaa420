"""JSON logs: one job's request id is on the API's lines and on the worker's lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from freshet import logs
from tests.factories import make_tenant
from tests.waiting import wait_until

LOGGERS = ("freshet", "celery.app.trace", "celery.worker.strategy")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Freshet's JSON handler on the root logger, writing to a buffer; INFO on our loggers.

    Requested before `worker`, so Celery sees INFO enabled when the worker starts."""
    stream = io.StringIO()
    handler = logs.make_handler(json_lines=True, stream=stream)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def parse(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.e2e
def test_one_jobs_request_id_is_on_the_api_and_the_worker_lines(json_lines, client, engine, worker):
    t = make_tenant(engine)
    rid = "req-logs-0123456789"
    resp = client.post(
        "/api/v1/reviews/refresh",
        json={"asin": "B0LOGS0001"},
        headers={**t.headers, "X-Request-Id": rid},
    )
    assert resp.status_code == 202
    assert resp.headers["X-Request-Id"] == rid
    job_id = resp.get_json()["jobId"]
    wait_until(
        lambda: any(
            ln.get("logger") == "celery.app.trace" and ln.get("job_id") == job_id
            for ln in parse(json_lines)
        ),
        30,
        "Celery's line for the job",
        every=0.1,
    )
    lines = parse(json_lines)  # every line is JSON, or parse fails
    mine = [ln for ln in lines if ln.get("request_id") == rid]
    api = [ln for ln in mine if ln["logger"] == "freshet.access"]
    assert api and api[0]["path"] == "/api/v1/reviews/refresh" and api[0]["status"] == 202
    assert api[0]["route"] == "/api/v1/reviews/refresh" and "duration_ms" in api[0]
    worker_lines = [ln for ln in mine if ln["logger"] != "freshet.access"]
    loggers = {ln["logger"] for ln in worker_lines}
    # our "task received", the job's own lines, and Celery's own "succeeded" line
    assert {"freshet.worker", "freshet.jobs", "celery.app.trace"} <= loggers, loggers
    assert all(ln["job_id"] == job_id for ln in worker_lines)
    assert all(ln.get("task_id") for ln in worker_lines)
    # Celery's own "Received task" line names the task and the job too
    received = [
        ln
        for ln in lines
        if ln["logger"] == "celery.worker.strategy" and ln.get("job_id") == job_id
    ]
    assert received and received[0]["task"] == "freshet.reviews.refresh"
    for ln in mine:
        assert {"ts", "level", "logger", "message"} <= set(ln)


def test_context_is_bound_and_unbound():
    stream = io.StringIO()
    log = logging.getLogger("freshet.test")
    handler = logs.make_handler(json_lines=True, stream=stream)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        token = logs.bind(request_id="r1", job_id=7)
        log.info("inside")
        logs.unbind(token)
        log.info("outside")
    finally:
        log.removeHandler(handler)
        log.propagate = True
        log.setLevel(logging.NOTSET)
    inside, outside = parse(stream)
    assert inside["request_id"] == "r1" and inside["job_id"] == 7
    assert "request_id" not in outside


def test_celery_leaves_logging_to_freshet_when_run_from_the_command_line():
    """`celery -A workers.celery_app …` resolves `app`; Celery's own set-up then keeps our
    JSON handler, so its lines (received, succeeded) are JSON too."""
    code = textwrap.dedent("""
        import logging
        import workers.celery_app as m
        app = m.app
        app.log.setup(loglevel="INFO")  # what `celery worker` does at start
        logging.getLogger("celery.app.trace").info("Task %s succeeded", "x")
    """)
    env = {**os.environ, "FRESHET_LOG_JSON": "true", "FRESHET_LOG_LEVEL": "INFO"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(x) for x in out.stderr.splitlines() if x.strip()]
    assert any(
        ln["logger"] == "celery.app.trace" and ln["message"] == "Task x succeeded" for ln in lines
    ), out.stderr

"""The bench harness does not rot: its in-process measurements (guards against raw Redis round
trips, the raw batch floor) run end to end with tiny counts. No timing is asserted."""

from __future__ import annotations

import contextlib

import psycopg
import redis

from bench import admission, floors


def test_guard_measurement_runs_and_leaves_no_keys(redis_server):
    with contextlib.closing(redis.Redis.from_url(redis_server.url)) as client:
        out = admission.measure(client, 20)
        assert out["count"] == 20
        assert out["admits_per_s"] > 0 and out["ping_per_s"] > 0 and out["ratio"] > 0
        assert not list(client.scan_iter(match="bench-*"))


def test_raw_floor_measurement_runs_and_drops_its_scratch_table(database_url, redis_server):
    out = floors.batch_floor(database_url, redis_server.url, [1, 5], repeats=2)
    assert set(out) == {1, 5}
    for part in ("copy", "insert_values", "serialize", "publish", "floor"):
        assert out[5][part]["n"] == 2 and out[5][part]["p50_ms"] > 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('bench_jobs')").fetchone()[0] is None
    with contextlib.closing(redis.Redis.from_url(redis_server.url)) as client:
        assert client.exists("bench:floor") == 0


def test_a_serialized_floor_message_has_celerys_shape():
    import base64
    import json

    msg = json.loads(floors.celery_message("freshet.batch.refresh_target", [7], "batch"))
    assert msg["headers"]["task"] == "freshet.batch.refresh_target"
    assert json.loads(base64.b64decode(msg["body"]))[0] == [7]

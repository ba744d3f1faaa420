"""The raw parts on their own: one bulk insert of job rows, one pipelined publish of Celery
messages, Redis round trips. These are the floors Freshet's numbers are divided by."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from typing import Any

import psycopg
import redis

from bench.stats import summary_ms

SCRATCH = "bench_jobs"
COLUMNS = (
    "org_id",
    "kind",
    "queue",
    "max_attempts",
    "request_id",
    "workflow_id",
    "target_index",
    "url",
    "params",
)


def _rows(n: int) -> list[tuple[Any, ...]]:
    wf, rid = str(uuid.uuid4()), str(uuid.uuid4())
    return [
        (
            1,
            "batch_target",
            "batch",
            5,
            rid,
            wf,
            i,
            f"http://127.0.0.1/shops/bench/products/floor-{i}",
            "{}",
        )
        for i in range(n)
    ]


def _scratch_table(conn: psycopg.Connection) -> None:
    # Shaped like `jobs`: same columns, defaults (the id sequence) and indexes, no FKs.
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCRATCH} (LIKE jobs INCLUDING DEFAULTS INCLUDING INDEXES)"
    )
    conn.commit()


def insert_rows(conn: psycopg.Connection, n: int) -> None:
    """One multi-row INSERT of n rows and its commit: what execute_values does."""
    rows = _rows(n)
    values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * n)
    flat = [v for row in rows for v in row]
    conn.execute(
        f"INSERT INTO {SCRATCH} ({','.join(COLUMNS)}) VALUES {values}",  # noqa: S608
        flat,
    )
    conn.commit()


def copy_rows(conn: psycopg.Connection, n: int) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {SCRATCH} ({','.join(COLUMNS)}) FROM STDIN") as copy:
        for row in _rows(n):
            copy.write_row(row)
    conn.commit()


def celery_message(task: str, args: list[Any], queue: str) -> bytes:
    """A message as kombu's Redis transport stores it for Celery's protocol 2."""
    task_id = str(uuid.uuid4())
    body = json.dumps(
        [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    ).encode()
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": repr(args),
                "kwargsrepr": "{}",
                "origin": f"{os.getpid()}@{socket.gethostname()}",
                "ignore_result": True,
                "request_id": str(uuid.uuid4()),
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": str(uuid.uuid4()),
                "delivery_mode": 2,
                "delivery_info": {"exchange": queue, "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


def serialize(n: int) -> list[bytes]:
    return [celery_message("freshet.batch.refresh_target", [i], "batch") for i in range(n)]


def pipelined_publish(client: redis.Redis, messages: list[bytes], key: str = "bench:floor") -> None:
    """Push pre-serialized messages in one pipeline (one round trip)."""
    pipe = client.pipeline(transaction=False)
    for m in messages:
        pipe.lpush(key, m)
    pipe.execute()


def batch_floor(
    database_url: str, redis_url: str, sizes: list[int], repeats: int
) -> dict[int, dict[str, Any]]:
    """Per size: COPY of the rows, a multi-row INSERT of them (what execute_values sends),
    serializing the messages, pushing them pre-serialized in one pipeline, and
    floor = COPY + push, the cheapest way to do the same writes."""
    out: dict[int, dict[str, Any]] = {}
    client = redis.Redis.from_url(redis_url)
    with psycopg.connect(database_url) as conn:
        _scratch_table(conn)
        try:
            for n in sizes:
                copy_rows(conn, n)  # warm: pages, connection
                pipelined_publish(client, serialize(n))
                ins, cop, ser, pub, floor = [], [], [], [], []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    messages = serialize(n)
                    t1 = time.perf_counter()
                    copy_rows(conn, n)
                    t2 = time.perf_counter()
                    pipelined_publish(client, messages)
                    t3 = time.perf_counter()
                    insert_rows(conn, n)
                    t4 = time.perf_counter()
                    client.delete("bench:floor")
                    ser.append(t1 - t0)
                    cop.append(t2 - t1)
                    pub.append(t3 - t2)
                    ins.append(t4 - t3)
                    floor.append(t3 - t1)
                out[n] = {
                    "copy": summary_ms(cop),
                    "insert_values": summary_ms(ins),
                    "serialize": summary_ms(ser),
                    "publish": summary_ms(pub),
                    "floor": summary_ms(floor),
                }
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            conn.commit()
            client.delete("bench:floor")
            client.close()
    return out


def redis_round_trips(client: redis.Redis, count: int) -> dict[str, float]:
    """Sequential round trips per second from one connection: PING and GET."""
    client.set("bench:rt", b"x" * 64)
    client.ping()
    t0 = time.perf_counter()
    for _ in range(count):
        client.ping()
    t1 = time.perf_counter()
    for _ in range(count):
        client.get("bench:rt")
    t2 = time.perf_counter()
    client.delete("bench:rt")
    return {"ping_per_s": count / (t1 - t0), "get_per_s": count / (t2 - t1)}

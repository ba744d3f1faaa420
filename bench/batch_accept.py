"""Measurement 1: how fast `POST /v1/products/refresh` accepts 1, 100 and 500 targets, against
the floor of the same writes done raw (bench.floors.batch_floor)."""

from __future__ import annotations

import importlib.util
import time
import uuid
from typing import Any

import requests

from bench.stats import summary_ms

CATALOG = "bench-shop"


def catalog_domain(sim_host: str) -> str:
    return f"{sim_host}/shops/bench"


def targets(sim_url: str, n: int, tag: str) -> list[dict[str, str]]:
    # Fresh handles every request: nothing is deduplicated or joined to a fetch in flight.
    return [
        {"catalog": CATALOG, "url": f"{sim_url}/shops/bench/products/{tag}-{i}"} for i in range(n)
    ]


def endpoint_present() -> bool:
    return importlib.util.find_spec("api.batch") is not None


def measure(
    api_url: str, sim_url: str, headers: dict[str, str], size: int, requests_n: int
) -> dict[str, Any]:
    session = requests.Session()
    session.headers.update(headers)
    url = api_url + "/v1/products/refresh"
    for _ in range(3):  # warm both gunicorn workers and their pools
        session.post(
            url, json={"targets": targets(sim_url, size, uuid.uuid4().hex[:10])}, timeout=30
        )
    times: list[float] = []
    accepted = 0
    statuses: dict[int, int] = {}
    for _ in range(requests_n):
        body = {"targets": targets(sim_url, size, uuid.uuid4().hex[:10])}
        t0 = time.perf_counter()
        resp = session.post(url, json=body, timeout=30)
        times.append(time.perf_counter() - t0)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        if resp.status_code == 202:
            accepted += len(resp.json().get("accepted", []))
    session.close()
    out = summary_ms(times)
    out.update(
        size=size, statuses=statuses, accepted_targets=accepted, expected_targets=size * requests_n
    )
    return out


def post_batches(
    api_url: str, sim_url: str, headers: dict[str, str], n: int, tag: str
) -> tuple[list[str], list[str]]:
    """Submit n targets in batches of up to 500; (workflow ids, every target URL)."""
    workflow_ids, urls = [], []
    with requests.Session() as s:
        s.headers.update(headers)
        for start in range(0, n, 500):
            batch = targets(sim_url, min(500, n - start), f"{tag}-{start}")
            resp = s.post(api_url + "/v1/products/refresh", json={"targets": batch}, timeout=60)
            if resp.status_code != 202:
                raise RuntimeError(f"batch answered {resp.status_code}: {resp.text[:300]}")
            body = resp.json()
            if len(body["accepted"]) != len(batch):
                raise RuntimeError(f"batch rejected targets: {body['rejected'][:3]}")
            workflow_ids.append(body["workflowId"])
            urls += [t["url"] for t in batch]
    return workflow_ids, urls

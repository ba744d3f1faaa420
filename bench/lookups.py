"""Measurement 5: requests per second of `GET /v1/products/{id}` (cached) with 32 concurrent
clients, against the bare endpoint of bench.bare_app. The load comes from wrk when the machine
has it; otherwise from Python threads, which on 2 cores are the bottleneck (the result says
which was used)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any
from urllib.parse import urlsplit

CONNECTIONS = 32


def interleaved(runs: dict[str, Any], seconds: float, rounds: int = 3) -> dict[str, dict[str, Any]]:
    """Each named load (a callable taking seconds) run `rounds` times in turn, A B A B…, so a
    machine whose load changes during the measurement weighs on every side alike; the
    results merged per name (requests over the summed time, the worst non-2xx count)."""
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            parts[name].append(run(max(seconds / rounds, 1.0)))
    out = {}
    for name, results in parts.items():
        total = sum(r["requests"] for r in results)
        secs = sum(r["requests"] / r["per_s"] for r in results if r["per_s"])
        out[name] = {
            "per_s": total / secs if secs else 0.0,
            "requests": total,
            "non_2xx": sum(r["non_2xx"] for r in results),
            "rounds": [round(r["per_s"], 1) for r in results],
        }
    return out


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python-threads"


def run_load(
    url: str,
    headers: dict[str, str],
    seconds: float,
    connections: int = CONNECTIONS,
    spread: list[tuple[str, dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """`spread`: (path, headers) pairs the requests rotate over, instead of one of each."""
    if shutil.which("wrk"):
        return _wrk(url, headers, seconds, connections, spread)
    return _python(url, headers, seconds, connections, spread)


def _lua(spread: list[tuple[str, dict[str, str]]]) -> str:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    items = ",\n".join(
        "{"
        + quote(path)
        + ", {"
        + ", ".join(f"[{quote(k)}] = {quote(v)}" for k, v in h.items())
        + "}}"
        for path, h in spread
    )
    return (
        f"local items = {{\n{items}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #items + 1\n"
        "  return wrk.format('GET', items[i][1], items[i][2])\nend\n"
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(
    url: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    spread: list[tuple[str, dict[str, str]]] | None,
) -> dict[str, Any]:
    # One wrk thread: the machine's second core is better spent serving than loading.
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(int(seconds), 1)}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if spread:
            script.write(_lua(spread))
    try:
        if spread:
            argv += ["-s", script.name]
        out = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=seconds + 30, check=True
        ).stdout
    finally:
        os.unlink(script.name)
    rps_m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total_m = re.search(r"(\d+) requests in", out)
    assert rps_m is not None and total_m is not None, f"no summary in wrk's output:\n{out}"
    rps = float(rps_m.group(1))
    total = int(total_m.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lat = {}
    for q, v, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[f"p{q}_ms"] = float(v) * _UNITS[unit]
    return {
        "per_s": rps,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        **lat,
    }


def _python(
    url: str,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    spread: list[tuple[str, dict[str, str]]] | None,
) -> dict[str, Any]:
    parts = urlsplit(url)
    items = spread or [(parts.path + (f"?{parts.query}" if parts.query else ""), {})]
    stop = time.monotonic() + seconds
    counts = [0] * connections
    bad = [0] * connections

    host = parts.hostname
    assert host is not None, f"no host in {url!r}"

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, parts.port, timeout=10)
        k = i
        while time.monotonic() < stop:
            path, extra = items[k % len(items)]
            k += 1
            conn.request("GET", path, headers=headers | extra)
            resp = conn.getresponse()
            resp.read()
            counts[i] += 1
            if resp.status >= 300:
                bad[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.perf_counter() - t0
    return {"per_s": sum(counts) / elapsed, "requests": sum(counts), "non_2xx": sum(bad)}

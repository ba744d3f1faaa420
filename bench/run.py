"""`python -m bench` (or bin/bench): start a private stack, measure Freshet against the raw parts
it is built from, print the table (and --json), write bench/results/latest.{json,md}."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.phases import FULL, MEASUREMENTS, QUICK, RESULTS, Bench, log
from bench.stack import Stack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller counts (< 2 minutes)")
    p.add_argument("--json", action="store_true", help="print the results as JSON only")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also sample the API and worker with py-spy where Freshet is measured "
        "(slows them: numbers from such a run are for reading profiles only); "
        "summaries go to bench/results/profile-*.summary.txt",
    )
    p.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help="comma-separated measurements to run, e.g. 2,6 (default: all)",
    )
    args = p.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    counts = QUICK if args.quick else FULL

    def on_term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must reach us even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
    }
    from bench.lookups import load_generator

    result["load_generator"] = load_generator()
    try:
        with Stack.up(log=log) as stack:
            RESULTS.mkdir(exist_ok=True)
            bench = Bench(stack, counts, only, profile=args.profile)
            try:
                bench.run()
            finally:
                bench.close()
    except KeyboardInterrupt:
        log("interrupted; everything the bench started is stopped")
        return 130
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.profile:
        from bench import flame

        for label, path in bench.data.get("profiles", {}).items():
            summary = flame.summarize_file(Path(path))
            Path(path).with_suffix(".summary.txt").write_text(summary + "\n")
            log(f"profile {label}: {Path(path).with_suffix('.summary.txt')}")
    result["rows"] = [r.to_dict() for r in bench.rows]
    result["data"] = bench.data
    text = report.table(sorted(bench.rows, key=lambda r: r.measure))
    header = (
        f"Freshet bench ({result['mode']}, {result['seconds']}s) on "
        f"{result['machine']['nproc']} × {result['machine']['cpu']}, "
        f"{result['machine']['memory_gib']} GiB; load generator: "
        f"{result['load_generator']}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / "latest.md").write_text(
        f"{header}\n\n{report.markdown(sorted(bench.rows, key=lambda r: r.measure))}\n"
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(f"\n{header}\n\n{text}\n")
        print(f"(details: {RESULTS / 'latest.json'})")
    return 1 if any(r.result == "error" for r in bench.rows) else 0

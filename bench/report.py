"""The table: one row per comparison, both sides of every ratio, and the target it is held to."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import psutil


@dataclass
class Row:
    measure: str  # "1", "2", ...
    what: str
    freshet: str
    baseline: str
    ratio: str = ""
    target: str = ""
    result: str = ""  # pass | miss | n/a | error | ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def ms(v: float) -> str:
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def per_s(v: float) -> str:
    return f"{v:,.0f}/s"


def mib(v: float) -> str:
    return f"{v / 2**20:.0f} MiB"


def x(v: float) -> str:
    # three significant digits, so 0.496 is not shown as a passing 0.50
    return f"{v:.3g}×"


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def table(rows: list[Row]) -> str:
    head = Row(
        "#", "measurement", "Freshet", "baseline (raw parts, same run)", "ratio", "target", "result"
    )
    cols = ("measure", "what", "freshet", "baseline", "ratio", "target", "result")
    data = [[getattr(r, c) for c in cols] for r in [head, *rows]]
    widths = [max(len(d[i]) for d in data) for i in range(len(cols))]
    lines = []
    for i, d in enumerate(data):
        lines.append("  ".join(v.ljust(w) for v, w in zip(d, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    out = [
        "| # | measurement | Freshet | baseline (raw parts, same run) | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.measure, r.what, r.freshet, r.baseline, r.ratio, r.target, r.result]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(out)

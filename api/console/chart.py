"""The price history chart, drawn on the server as SVG: axes, dates, the price line, and the
30-day low and high marked. Only numbers and dates go into the markup, each escaped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
X_TICKS, Y_TICKS = 5, 4


def _when(point: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(point["observed_at"]).replace("Z", "+00:00"))


def price_chart(points: list[dict[str, Any]], stats: dict[str, Any], currency: str = "") -> Markup:
    if not points:
        return Markup("")
    times = [_when(p) for p in points]
    prices = [float(p["price"]) for p in points]
    lo, hi = min(prices), max(prices)
    pad = (hi - lo) * 0.1 or max(hi * 0.05, 1.0)
    y0, y1 = max(lo - pad, 0.0), hi + pad
    t0, t1 = times[0], times[-1]
    span = (t1 - t0).total_seconds() or 1.0
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: dt.datetime) -> float:
        return LEFT + (pw / 2 if t1 == t0 else pw * (t - t0).total_seconds() / span)

    def y(v: float) -> float:
        return TOP + ph * (1 - (v - y0) / (y1 - y0))

    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        'xmlns="http://www.w3.org/2000/svg" aria-label="Price history, last 30 days">',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}"/>',
    ]
    for i in range(Y_TICKS + 1):
        v = y0 + (y1 - y0) * i / Y_TICKS
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + pw}" y2="{y(v):.1f}"/>'
        )
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>'
        )
    ticks = [t0] if t1 == t0 else [t0 + (t1 - t0) * i / X_TICKS for i in range(X_TICKS + 1)]
    short = (t1 - t0) < dt.timedelta(days=2)
    for i, t in enumerate(ticks):
        label = t.strftime("%m-%d %H:%M" if short else "%Y-%m-%d")
        # the first and last labels stay inside the frame
        anchor = (
            "middle" if len(ticks) == 1 else {0: "start", len(ticks) - 1: "end"}.get(i, "middle")
        )
        out.append(
            f'<line class="axis" x1="{x(t):.1f}" y1="{TOP + ph}" x2="{x(t):.1f}" y2="{TOP + ph + 5}"/>'
        )
        out.append(
            f'<text class="tick" x="{x(t):.1f}" y="{TOP + ph + 20}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, prices, strict=True))
    out.append(f'<polyline class="price" points="{line}"/>')
    for t, v in zip(times, prices, strict=True):
        out.append(
            f'<circle class="point" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3"><title>{escape(t.isoformat())}: {v:.2f}</title></circle>'
        )
    for cls, name in (("low", "low_30d"), ("high", "high_30d")):
        value = stats.get(name)
        if value is None:
            continue
        yy = y(float(value))
        out.append(
            f'<line class="mark {cls}" x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}"/>'
        )
        dy = 14 if cls == "low" else -6
        out.append(
            f'<text class="mark-label {cls}" x="{LEFT + pw - 4}" y="{yy + dy:.1f}" text-anchor="end">'
            f"{cls} {float(value):.2f} {escape(currency)}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704  # numbers and escaped dates only, built above

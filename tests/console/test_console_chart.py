"""The server-drawn price chart: axes, dates, the low/high marks, and the edge cases."""

from __future__ import annotations

from api.console.chart import price_chart


def _point(day: int, price: float) -> dict:
    return {"observed_at": f"2026-11-{day:02d}T12:00:00Z", "price": price}


def test_chart_has_axes_dates_a_point_per_observation_and_low_high_marks():
    svg = str(
        price_chart(
            [_point(1, 10.0), _point(8, 14.5), _point(15, 12.0)],
            {"low_30d": 10.0, "high_30d": 14.5},
        )
    )
    assert svg.startswith("<svg") and svg.count('class="axis"') >= 2
    assert svg.count("<circle") == 3
    assert "2026-11-01" in svg and "2026-11-15" in svg
    assert "low 10.00" in svg and "high 14.50" in svg


def test_one_observation_is_drawn_and_no_history_draws_nothing():
    one = str(price_chart([_point(3, 9.99)], {"low_30d": 9.99, "high_30d": 9.99}))
    assert one.count("<circle") == 1 and "nan" not in one.lower()
    assert str(price_chart([], {})) == ""

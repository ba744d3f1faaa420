"""The simulator's admin API under `/_sim/` (never counted, never faulted):

- `GET /_sim/faults`, `PUT /_sim/faults` with any of `latency_ms`, `error_rate`,
  `error_status` (default 503), `throttle_rate`, `malformed_rate`, `path_prefix`; the body
  replaces the whole configuration, so `{}` resets; `DELETE /_sim/faults` resets too.
- `GET /_sim/stats`, `DELETE /_sim/stats` (reset).
- `GET /_sim/prices`; `PUT /_sim/prices` with `{"path": "/walmart/ip/123", "price": 12.5}`
  pins the price that product shows (`"price": null` unpins it), or
  `{"prices": {path: price, ...}}` to pin several; `{}` or `DELETE /_sim/prices` unpins all.
  Paths are the product page paths: `/walmart/ip/<id>`, `/shops/<shop>/products/<handle>`
  (its `.json`/`.js` follow), `/sites/<site>/p/<handle>`.
- `GET /_sim/overrides`; `PUT /_sim/overrides` with `{"<product page path>": {"price": 12.5,
  "in_stock": false, "rating": 4.1}}` changes those products on purpose, in every format
  served for them (`/shops/demo/products/linen-shirt` covers its `.json` and `.js`;
  `/walmart/ip/<id>` its slugged URL too). Merged with earlier overrides (a field set to
  null drops it); `{}` (or `DELETE /_sim/overrides`) clears them all.
- `GET /_sim/health`.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from simulator.state import Faults, SimState, parse_faults, parse_overrides

bp = Blueprint("sim_admin", __name__, url_prefix="/_sim")


def _state() -> SimState:
    return cast(SimState, current_app.extensions["simulator"])


def _bad(message: str) -> ResponseReturnValue:
    return jsonify(error="bad_request", message=message), 400


def _body() -> Any:
    return request.get_json(silent=True) if request.get_data() else {}


@bp.get("/health")
def health() -> ResponseReturnValue:
    return jsonify(ok=True)


@bp.get("/faults")
def get_faults() -> ResponseReturnValue:
    return jsonify(_state().faults.to_dict())


@bp.put("/faults")
def put_faults() -> ResponseReturnValue:
    try:
        faults = parse_faults(_body())
    except ValueError as exc:
        return _bad(str(exc))
    _state().faults = faults
    return jsonify(faults.to_dict())


@bp.delete("/faults")
def reset_faults() -> ResponseReturnValue:
    _state().faults = Faults()
    return jsonify(_state().faults.to_dict())


@bp.get("/stats")
def get_stats() -> ResponseReturnValue:
    return jsonify(_state().stats.snapshot())


@bp.delete("/stats")
def reset_stats() -> ResponseReturnValue:
    _state().stats.reset()
    return jsonify(_state().stats.snapshot())


def _valid_price(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    )


@bp.get("/prices")
def get_prices() -> ResponseReturnValue:
    return jsonify(prices=_state().prices())


@bp.put("/prices")
def put_prices() -> ResponseReturnValue:
    body = _body()
    if not isinstance(body, dict):
        return _bad("body must be a JSON object")
    state = _state()
    if not body:
        state.reset_prices()
        return jsonify(prices={})
    pins = body.get("prices") if "prices" in body else {body.get("path"): body.get("price")}
    if not isinstance(pins, dict):
        return _bad("prices must be an object of path -> price")
    for path, price in pins.items():
        if not (isinstance(path, str) and path.startswith("/")) or not _valid_price(price):
            return _bad("each pin needs a path starting with '/' and a price >= 0 (or null)")
    for path, price in pins.items():
        state.pin_price(path.rstrip("/"), price)
    return jsonify(prices=state.prices())


@bp.delete("/prices")
def reset_prices() -> ResponseReturnValue:
    _state().reset_prices()
    return jsonify(prices={})


@bp.get("/overrides")
def get_overrides() -> ResponseReturnValue:
    return jsonify(overrides=_state().overrides())


@bp.put("/overrides")
def put_overrides() -> ResponseReturnValue:
    body = _body()
    state = _state()
    if body == {}:
        state.clear_overrides()
        return jsonify(overrides={})
    try:
        changes = parse_overrides(body)
    except ValueError as exc:
        return _bad(str(exc))
    state.merge_overrides(changes)
    return jsonify(overrides=state.overrides())


@bp.delete("/overrides")
def reset_overrides() -> ResponseReturnValue:
    _state().clear_overrides()
    return jsonify(overrides={})

"""The simulator's run-time state: injected faults, pinned prices, product overrides and
request statistics,
all safe to use from the server's many threads."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

_RATES = ("error_rate", "throttle_rate", "malformed_rate")


@dataclass(frozen=True)
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    throttle_rate: float = 0.0
    malformed_rate: float = 0.0
    path_prefix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def applies_to(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_faults(body: Any) -> Faults:
    """Validate a `PUT /_sim/faults` body; ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(body) - set(Faults.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    if "latency_ms" in body and not (_is_number(body["latency_ms"]) and body["latency_ms"] >= 0):
        raise ValueError("latency_ms must be a number >= 0")
    for name in _RATES:
        if name in body and not (_is_number(body[name]) and 0 <= body[name] <= 1):
            raise ValueError(f"{name} must be a number between 0 and 1")
    status = body.get("error_status", 503)
    if not (isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599):
        raise ValueError("error_status must be an integer between 400 and 599")
    prefix = body.get("path_prefix")
    if prefix is not None and not (isinstance(prefix, str) and prefix.startswith("/")):
        raise ValueError("path_prefix must be a string starting with '/'")
    return Faults(**body)


class Stats:
    """Requests served per path, host and site, and each site's/host's peak 1-second rate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._paths: Counter[str] = Counter()
            self._hosts: Counter[str] = Counter()
            self._sites: Counter[str] = Counter()
            self._windows: dict[str, deque[float]] = {}
            self._peaks: dict[str, int] = {}

    def record(self, path: str, host: str, site: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._total += 1
            self._paths[path] += 1
            self._hosts[host] += 1
            self._sites[site] += 1
            for key in (site, host):
                window = self._windows.setdefault(key, deque())
                window.append(now)
                while window[0] <= now - 1.0:
                    window.popleft()
                if len(window) > self._peaks.get(key, 0):
                    self._peaks[key] = len(window)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "paths": dict(self._paths),
                "hosts": dict(self._hosts),
                "sites": dict(self._sites),
                "max_per_second": dict(self._peaks),
            }


class SimState:
    """Everything one simulator app shares between requests."""

    def __init__(self, seed: int, drift_seconds: float):
        self.seed = seed
        self.drift_seconds = drift_seconds
        self.faults = Faults()
        self.stats = Stats()
        self._prices: dict[str, float] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def pin_price(self, path: str, price: float | None) -> None:
        with self._lock:
            if price is None:
                self._prices.pop(path, None)
            else:
                self._prices[path] = float(price)

    def reset_prices(self) -> None:
        with self._lock:
            self._prices.clear()

    def prices(self) -> dict[str, float]:
        with self._lock:
            return dict(self._prices)

    def pinned_price(self, path: str) -> float | None:
        """The price a product shows: an override's first, then a pin."""
        price = self._overrides.get(path, {}).get("price")
        return float(price) if price is not None else self._prices.get(path)

    # overrides: a product's price, stock and rating changed on purpose --------------------
    def merge_overrides(self, changes: dict[str, dict[str, Any]]) -> None:
        """Merge per product page path; a field set to null drops that field's override."""
        with self._lock:
            for path, fields in changes.items():
                merged = self._overrides.get(path, {}) | fields
                merged = {k: v for k, v in merged.items() if v is not None}
                if merged:
                    self._overrides[path] = merged
                else:
                    self._overrides.pop(path, None)

    def clear_overrides(self) -> None:
        with self._lock:
            self._overrides.clear()

    def overrides(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {p: dict(f) for p, f in self._overrides.items()}

    def item_changes(self, path: str) -> dict[str, Any]:
        """What a product's item data must say instead (in_stock, rating) for `path`."""
        found = self._overrides.get(path, {})
        return {k: found[k] for k in ("in_stock", "rating") if k in found}


OVERRIDE_FIELDS = ("price", "in_stock", "rating")


def parse_overrides(body: Any) -> dict[str, dict[str, Any]]:
    """Validate a `PUT /_sim/overrides` body; ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object of product page path -> fields")
    out: dict[str, dict[str, Any]] = {}
    for path, fields in body.items():
        if not (isinstance(path, str) and path.startswith("/")):
            raise ValueError("each key is a product page path starting with '/'")
        if not isinstance(fields, dict):
            raise ValueError(f"{path}: the value is an object of {', '.join(OVERRIDE_FIELDS)}")
        unknown = set(fields) - set(OVERRIDE_FIELDS)
        if unknown:
            raise ValueError(f"{path}: unknown fields {', '.join(sorted(unknown))}")
        price, stock, rating = fields.get("price"), fields.get("in_stock"), fields.get("rating")
        if price is not None and not (_is_number(price) and 0 <= price < 1e9):
            raise ValueError(f"{path}: price must be a number >= 0 (or null)")
        if stock is not None and not isinstance(stock, bool):
            raise ValueError(f"{path}: in_stock must be true or false (or null)")
        if rating is not None and not (_is_number(rating) and 0 <= rating <= 5):
            raise ValueError(f"{path}: rating must be a number from 0 to 5 (or null)")
        out[path.rstrip("/") or "/"] = dict(fields)
    return out

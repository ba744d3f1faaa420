"""What upstream HTTP failures mean: statuses, Retry-After, and answers that are not HTTP."""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from sources.record import PermanentSourceError, TransientSourceError


class HttpStatusError(PermanentSourceError):
    """A 4xx answer (other than 429); `status` says which."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def raise_for_status(status: int, headers: Mapping[str, str], where: str) -> None:
    """Raise the source error an HTTP status means: 429, 408 and 5xx are transient (with
    any Retry-After), other 3xx and 4xx permanent."""
    if status == 429:
        raise TransientSourceError(
            f"upstream throttled us (429) at {where}",
            retry_after=parse_retry_after(headers.get("Retry-After")),
            status=429,
        )
    if status >= 500 or status == 408:
        raise TransientSourceError(
            f"upstream error {status} at {where}",
            retry_after=parse_retry_after(headers.get("Retry-After")),
            status=status,
        )
    if status in (404, 410):
        raise HttpStatusError(f"not found ({status}) at {where}", status)
    if status >= 300:
        raise HttpStatusError(f"upstream answered {status} at {where}", status)


def not_http(exc: BaseException) -> bool:
    """Whether the upstream answered something that is not HTTP (garbage, an endless or
    oversized header line), as opposed to hanging up."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, http.client.HTTPException) and not isinstance(
            e, (http.client.RemoteDisconnected, http.client.IncompleteRead)
        ):
            return True
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return False

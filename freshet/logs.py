"""Structured logging: JSON lines carrying the request id and job id of what is being done."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Any

from freshet.settings import Settings

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("freshet_log",
                                                                          default={})  # noqa: B039


@contextlib.contextmanager
def context(**values: Any) -> Iterator[None]:
    merged = {**_context.get(), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current(name: str) -> Any:
    return _context.get().get(name)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in _context.get().items():
            if not hasattr(record, k):
                setattr(record, k, v)
        return True


def configure_logging(settings: Settings, stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_json:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_freshet", False):
            root.removeHandler(h)
    handler._freshet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

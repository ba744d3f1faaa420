"""Structured logging: JSON lines carrying the request id and job id of what is being done.

The API binds `request_id` for each request; the worker binds `request_id` (from the task's
headers), `job_id` and `task_id` for each task, so one job's lines are found by either id.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from freshet.settings import Settings

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("freshet_log", default={})  # noqa: B039

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextlib.contextmanager
def context(**values: Any) -> Iterator[None]:
    token = bind(**values)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**values: Any) -> contextvars.Token[dict[str, Any]]:
    """Add values to every line logged in this context until `unbind(token)`."""
    merged = {**_context.get(), **{k: v for k, v in values.items() if v is not None}}
    return _context.set(merged)


def unbind(token: contextvars.Token[dict[str, Any]]) -> None:
    with contextlib.suppress(ValueError):  # a token from another context: nothing to undo
        _context.reset(token)


def current(name: str) -> Any:
    return _context.get().get(name)


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record, and names the task and job on Celery's own lines
    (its "Received task" and "succeeded" lines carry them only inside their message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in _context.get().items():
            if not hasattr(record, k):
                setattr(record, k, v)
        data = getattr(record, "data", None)
        if isinstance(data, dict) and record.name.startswith("celery"):
            if data.get("id") and not hasattr(record, "task_id"):
                record.task_id = data["id"]
            if data.get("name") and not hasattr(record, "task"):
                record.task = data["name"]
            job_id = _job_id_from_args(data.get("args"))
            if job_id is not None and not hasattr(record, "job_id"):
                record.job_id = job_id
        return True


def _job_id_from_args(args: Any) -> int | None:
    # Freshet's tasks take one argument, the job id; Celery logs it as its repr "[42]".
    if isinstance(args, (list, tuple)) and len(args) == 1 and isinstance(args[0], int):
        return args[0]
    if isinstance(args, str):
        inner = args.strip("[]() ,")
        if inner.isdigit():
            return int(inner)
    return None


def make_handler(json_lines: bool, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                FORMAT,
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                json_default=str,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Replace Freshet's root handler (JSON when FRESHET_LOG_JSON) and set the level."""
    handler = make_handler(settings.log_json, stream)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_freshet", False):
            root.removeHandler(h)
    handler._freshet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

"""The wired-up dependencies one process uses: settings, Postgres, Redis, guards, publisher,
and the registry of job kinds.

Built only by the composition roots (API app factory, Celery worker start, CLI), through
`freshet.wiring.build_runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeVar, runtime_checkable

import redis as redis_lib
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from freshet.settings import Settings
from guards import Guards
from sources.http import HttpClient
from store.db import Executor


class Message(Protocol):
    """What a publisher sends: a task by name with its one argument (a job id, or another
    id such as a workflow's), on a queue. `Dispatch` is the usual one."""

    @property
    def job_id(self) -> int | str: ...
    @property
    def task_name(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def countdown(self) -> float | None: ...


class Publisher(Protocol):
    """Sends jobs to Celery by task name; a no-op stand-in is used where nothing may publish."""

    def publish(self, dispatches: Sequence[Message]) -> None: ...


@runtime_checkable
class QueueDepths(Protocol):
    """A publisher that can tell how many messages a queue holds ready (RabbitMQ's does),
    so the sweeper need not re-send what a durable broker still keeps."""

    def ready(self, queue: str) -> int | None: ...


@dataclass(frozen=True)
class Dispatch:
    """What the publisher needs to send one job: ids only, never objects or secrets."""

    job_id: int
    kind: str
    task_name: str
    queue: str
    request_id: str | None = None
    countdown: float | None = None


@dataclass(frozen=True)
class Upstream:
    """Where a job's first request goes, and the ceiling for its host (requests/s, 0 = none):
    what the runner admits before it claims the job (`freshet.hosts`)."""

    url: str
    ceiling: float


class Handler(Protocol):
    """The kind-specific half of running a job; `freshet.jobs.run_job` is the other half."""

    kind: str

    def upstream(self, rt: Runtime, job: dict[str, Any]) -> Upstream | None: ...
    def fetch(self, rt: Runtime, job: dict[str, Any]) -> Any: ...
    def store(
        self, conn: Connection, rt: Runtime, job: dict[str, Any], output: Any
    ) -> dict[str, Any]: ...
    def after(self, rt: Runtime, job: dict[str, Any], status: str) -> None: ...


@runtime_checkable
class CompletesInOne(Protocol):
    """A handler that stores a job's output and completes the job in one statement (built
    with `freshet.jobs.completion`): the runner then finishes it with no transaction of its
    own. `complete` returns False when the job's fence refused (nothing was written)."""

    def complete(self, conn: Executor, rt: Runtime, job: dict[str, Any], output: Any) -> bool: ...


SweeperPass = Callable[["Runtime"], int]
T = TypeVar("T")


class WiringError(RuntimeError):
    """A job kind, task or handler is missing or named twice: raised at start, by name."""


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    task_name: str
    queue: str
    sweeper_passes: tuple[SweeperPass, ...] = ()
    # Published by the fair-share dispatcher (freshet.jobs.fairshare), not at submission.
    fair_share: bool = False
    # Callers wait for its jobs to end (a synchronous refresh): each end is signalled
    # (freshet.jobs.signals). Nobody listens for the other kinds' signals.
    waited_on: bool = False


class JobKinds:
    """Every job kind the system runs: what handles it, which task and queue carry it, and
    the sweeper passes it adds. The worker, the sweeper and the API all read this one table."""

    def __init__(self, kinds: Iterable[JobKind], maintenance: Iterable[SweeperPass] = ()) -> None:
        # Sweeper passes of no job kind (the data lifecycle), named explicitly in wiring.
        self.maintenance = tuple(maintenance)
        self._kinds: dict[str, JobKind] = {}
        for k in kinds:
            if k.name in self._kinds:
                raise WiringError(f"job kind {k.name!r} is registered twice")
            if getattr(k.handler, "kind", None) != k.name:
                raise WiringError(f"job kind {k.name!r} has the handler of another kind")
            self._kinds[k.name] = k

    def __getitem__(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise WiringError(f"no job kind {name!r} is registered") from None

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def dispatch(
        self,
        job_id: int,
        kind: str,
        request_id: str | None = None,
        countdown: float | None = None,
    ) -> Dispatch:
        k = self[kind]
        return Dispatch(job_id, kind, k.task_name, k.queue, request_id, countdown)

    def fair_share_names(self) -> list[str]:
        return [k.name for k in self if k.fair_share]

    def sweeper_passes(self) -> list[tuple[str, SweeperPass]]:
        passes = [p for k in self for p in k.sweeper_passes] + list(self.maintenance)
        return [(p.__name__, p) for p in passes]

    def check_tasks(self, registered: Iterable[str]) -> None:
        """Fail at start, by name, if a kind's task is not registered with Celery."""
        missing = sorted({k.task_name for k in self} - set(registered))
        if missing:
            raise WiringError(f"job kinds name tasks Celery does not know: {', '.join(missing)}")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis_lib.Redis
    publisher: Publisher
    kinds: JobKinds
    # One-statement hot paths (the cached product read and its charge, a job's claim and
    # completion): autocommit, no pre-ping; see store.db.make_statement_engine.
    statements: Engine
    extras: dict[str, Any] = field(default_factory=dict)
    # The statement engine commits asynchronously (the API's cached-read charge): work that
    # must be durable at commit then runs in a transaction on `engine` instead.
    statements_async: bool = False

    @cached_property
    def guards(self) -> Guards:
        return Guards(self.redis, self.settings.redis_prefix)

    @cached_property
    def http(self) -> HttpClient:
        s = self.settings
        return HttpClient(
            timeout=s.upstream_timeout,
            max_bytes=s.upstream_max_bytes,
            allow_private=s.allow_private_upstreams,
            allowed_private_hosts=s.allowed_private_hosts,
        )

    def durably(self) -> AbstractContextManager[Connection]:
        """A connection for work that is one statement and must be durable when it returns:
        the statement engine (the statement is its own transaction: no BEGIN, no COMMIT, no
        pre-ping), or a transaction on `engine` where the statement engine commits
        asynchronously."""
        return self.engine.begin() if self.statements_async else self.statements.connect()

    def once(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` on a `durably()` connection. The statement engine checks no
        connection before it is used, so one found dead (Postgres restarted) is retried once
        on a fresh one: `work` must be safe to run again — a read, or one statement fenced so
        that running it twice changes nothing."""
        for attempt in (1, 2):
            try:
                with self.durably() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def once_direct(self, work: Callable[[Executor], T]) -> T:
        """`once` for work that only runs `store.db.execute_prepared` (a job's claim and
        completion): on the statement engine, a pooled connection with no SQLAlchemy
        Connection around it, whose opening and closing cost a busy worker half as much again
        as the statement's own Python; the same retry on a fresh connection if it was found
        dead."""
        if self.statements_async:
            return self.once(work)
        for attempt in (1, 2):
            pooled = self.statements.raw_connection()
            try:
                return work(pooled)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                self.statements.dispose(close=False)  # its siblings are as dead: a fresh pool
                if attempt == 2:
                    raise
            finally:
                pooled.close()
        raise AssertionError("unreachable")

    @property
    def prefix(self) -> str:
        return self.settings.redis_prefix

    def close(self) -> None:
        self.engine.dispose()
        self.statements.dispose()
        self.redis.close()

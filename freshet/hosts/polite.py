"""The job's polite client: every request admitted by its host's guard, every answer reported."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from freshet import metrics
from freshet.hosts.keys import host_key
from freshet.runtime import Runtime, Upstream
from guards import HostGuard, HostPolicy
from sources.http import HttpClient, HttpStatusError, Response
from sources.record import PermanentSourceError, TransientSourceError

log = logging.getLogger("freshet.hosts")

THROTTLING = (429, 503)  # the host asks us to slow down: back off multiplicatively


class HostBusy(Exception):
    """The host asks this job to wait `wait` seconds (throttled, or paused): the job goes
    back to the queue without spending an attempt."""

    def __init__(self, host: str, wait: float, why: str):
        super().__init__(f"{host} {why}: wait {wait:.2f}s")
        self.host = host
        self.wait = wait
        self.why = why


def host_guard(rt: Runtime) -> HostGuard:
    guard = rt.extras.get("host_guard")
    if guard is None:
        s = rt.settings
        policy = HostPolicy(
            backoff_factor=s.host_backoff_factor,
            recovery_seconds=s.host_recovery_seconds,
            error_threshold=s.host_error_threshold,
            error_window_seconds=s.host_error_window_seconds,
            error_min_requests=s.host_error_min_requests,
            pause_seconds=s.host_pause_seconds,
            pause_max_seconds=s.host_pause_max_seconds,
        )
        guard = rt.extras["host_guard"] = HostGuard(rt.redis, rt.prefix, policy)
    assert isinstance(guard, HostGuard)
    return guard


def admit(rt: Runtime, up: Upstream) -> float:
    """Admit the first request of a job: 0 = go, else seconds to wait."""
    return host_guard(rt).acquire(host_key(up.url), up.ceiling).wait


def outcome_of(exc: BaseException | None) -> str | None:
    """ok | throttled | error for what a request met; None: no answer to learn from."""
    if exc is None or isinstance(exc, HttpStatusError):
        return "ok"  # a 404 is a host answering well
    if isinstance(exc, TransientSourceError):
        if exc.status in THROTTLING or (exc.status is None and "timeout" in str(exc)):
            return "throttled"
        return "error"
    if isinstance(exc, PermanentSourceError):
        return None  # refused before sending (blocked address) or a page we cannot read
    return None


class PoliteHttp(HttpClient):
    """An HttpClient for one job: same requests, each one admitted and reported."""

    def __init__(self, rt: Runtime, inner: HttpClient, up: Upstream, *, admitted: bool):
        # No super().__init__: every request goes through `inner` (its session and pins).
        self._rt = rt
        self._inner = inner
        self._guard = host_guard(rt)
        self._ceiling = up.ceiling
        self._admitted = host_key(up.url) if admitted else None
        self._inline = rt.settings.host_inline_wait_seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get(
        self,
        url: str,
        *,
        allowed_domains: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        host = self._admit(url)
        return self._observe(
            host, lambda: self._inner.get(url, allowed_domains=allowed_domains, headers=headers)
        )

    def post(
        self,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        allowed_domains: Sequence[str] | None = None,
    ) -> Response:
        host = self._admit(url)
        return self._observe(
            host,
            lambda: self._inner.post(
                url, body=body, headers=headers, allowed_domains=allowed_domains
            ),
        )

    def _admit(self, url: str) -> str:
        host = host_key(url)
        if self._admitted == host:
            self._admitted = None  # the job's first request was admitted before its claim
            return host
        give_up = time.monotonic() + self._inline
        while True:
            ticket = self._guard.acquire(host, self._ceiling)
            if ticket.wait <= 0:
                return host
            if time.monotonic() + ticket.wait > give_up:
                raise HostBusy(host, ticket.wait, ticket.state)
            time.sleep(ticket.wait)

    def _observe(self, host: str, send: Any) -> Response:
        try:
            response: Response = send()
        except Exception as exc:
            outcome = outcome_of(exc)
            if outcome is not None:
                retry_after = getattr(exc, "retry_after", None)
                self._guard.report(host, outcome, self._ceiling, retry_after)
                metrics.upstream_host_answer(host, outcome)
            if isinstance(exc, TransientSourceError) and exc.status == 429:
                # The host said "slow down", not "this failed": wait, spend no attempt.
                raise HostBusy(host, exc.retry_after or 1.0, f"throttled ({exc})") from exc
            raise
        self._guard.report(host, "ok", self._ceiling)
        metrics.upstream_host_answer(host, "ok")
        return response


_current: contextvars.ContextVar[PoliteHttp | None] = contextvars.ContextVar(
    "freshet_polite_http", default=None
)


@contextlib.contextmanager
def session(rt: Runtime, up: Upstream | None, *, admitted: bool = True) -> Iterator[None]:
    """While a job fetches: `http(rt)` is its polite client."""
    if up is None:
        yield
        return
    token = _current.set(PoliteHttp(rt, rt.http, up, admitted=admitted))
    try:
        yield
    finally:
        _current.reset(token)


def http(rt: Runtime) -> HttpClient:
    """The client a handler fetches with: the running job's polite one, else the plain one."""
    return _current.get() or rt.http

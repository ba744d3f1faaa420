"""The wired-up dependencies one process uses: settings, Postgres, Redis, guards, publisher.

Built only by the composition roots (API app factory, Celery worker start, CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import redis as redis_lib
from sqlalchemy import Engine

from freshet.settings import Settings
from guards import Guards
from store.db import make_engine

if TYPE_CHECKING:
    from sources.http import HttpClient


class Publisher:
    """Sends jobs to Celery by task name; a no-op stand-in is used where nothing may publish."""

    def publish(self, dispatches: list[Any]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis_lib.Redis
    publisher: Publisher
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def guards(self) -> Guards:
        return Guards(self.redis, self.settings.redis_prefix)

    @cached_property
    def http(self) -> HttpClient:
        from sources.http import HttpClient

        s = self.settings
        return HttpClient(
            timeout=s.upstream_timeout,
            max_bytes=s.upstream_max_bytes,
            allow_private=s.allow_private_upstreams,
            allowed_private_hosts=s.allowed_private_hosts,
        )

    @property
    def prefix(self) -> str:
        return self.settings.redis_prefix

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


def build_runtime(settings: Settings, publisher: Publisher, *, pool_size: int = 5) -> Runtime:
    return Runtime(
        settings=settings,
        engine=make_engine(settings.database_url, pool_size=pool_size),
        redis=redis_lib.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
        ),
        publisher=publisher,
    )

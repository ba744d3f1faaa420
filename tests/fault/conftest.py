"""Fixtures of the fault suite: short leases, workers as OS processes, simulator faults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshet.settings import Settings
from tests.fault.support import Sim
from tests.fault.workers import WorkerProcess


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    # Short leases and redispatch so a lost worker or message is recovered within seconds;
    # everything else (Postgres, Redis, simulator) is the session's real services.
    return base_settings.with_overrides(
        lease_seconds=2, redispatch_after_seconds=2, review_max_pages=3
    )


@pytest.fixture
def spawn_worker(settings: Settings) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(**kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess.start(kwargs.pop("settings", settings), **kwargs)
        started.append(worker)
        return worker

    yield spawn
    for w in started:
        w.close()


@pytest.fixture
def sim(simulator) -> Sim:
    return Sim(simulator.url)

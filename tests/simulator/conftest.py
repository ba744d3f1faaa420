"""Fixtures for the simulator tests: one simulator per module, state reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.server import SimulatorHandle, serve_in_thread
from simulator.state import Faults
from sources.http import HttpClient


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimulatorHandle]:
    with serve_in_thread(drift_seconds=0) as handle:
        yield handle


@pytest.fixture
def sim(sim_server: SimulatorHandle) -> SimulatorHandle:
    state = sim_server.app.extensions["simulator"]
    state.faults = Faults()
    state.reset_prices()
    state.clear_overrides()
    state.stats.reset()
    return sim_server


@pytest.fixture
def client(sim: SimulatorHandle) -> Iterator[HttpClient]:
    http = HttpClient(timeout=5, allowed_private_hosts=[sim.host])
    yield http
    http.close()

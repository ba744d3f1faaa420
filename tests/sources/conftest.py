"""Fixtures for the source tests: saved pages, and a simulator for live HTTP tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simulator.server import SimulatorHandle, serve_in_thread

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"


@pytest.fixture
def page() -> Callable[[str], str]:
    def load(name: str) -> str:
        return (PAGES / name).read_text(encoding="utf-8")

    return load


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with serve_in_thread(drift_seconds=0) as handle:
        yield handle

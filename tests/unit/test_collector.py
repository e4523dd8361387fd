"""bot/__init__.py's pause of the cyclic garbage collector during start-up: it always comes
back on, and never turns on a collector that someone else had turned off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot import collector_paused, pause_collector, resume_collector


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    resume_collector()
    gc.enable()


def test_a_paused_block_resumes_the_collector_after_it() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_block_inside_a_pause_leaves_it_paused_for_whoever_resumes_it() -> None:
    pause_collector()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    resume_collector()
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    pause_collector()
    resume_collector()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_resuming_without_a_pause_changes_nothing() -> None:
    resume_collector()
    assert gc.isenabled()

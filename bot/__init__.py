"""The bot's wiring: settings, the command line and one adapter per channel."""

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# httpx's package imports its own command line client (`httpx._main`, for `httpx
# https://…` in a shell) whenever click, rich and pygments happen to be installed, and
# catches the ImportError when they are not. None of our processes runs that client, yet
# with the development tools installed it costs ~5 MB and ~25 ms at every start. A None
# entry in sys.modules makes that one import fail as if they were missing, so httpx falls
# back to its stub `main` and everything else in it is untouched. It must run before
# anything imports httpx (PTB does, through telegram.request): every process of ours
# imports this package first.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Start-up creates ~100,000 objects that live as long as the process (modules, classes,
# the tables' metadata, the router) and hardly any garbage; the cyclic collector would
# sweep them over 250 times on the way (~35 ms of `thidua run`'s start). The command line
# pauses it while it imports, and `thidua run` until the bot has started
# (ThiduaApplication.start); reference counting frees memory meanwhile as always.
_paused = False


def pause_collector() -> None:
    """Pause the cyclic garbage collector until `resume_collector` (if it is on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> None:
    """Turn the collector back on, if `pause_collector` turned it off; else nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector paused for a block (resumed after it, unless it was already off)."""
    outer = _paused or not gc.isenabled()
    pause_collector()
    try:
        yield
    finally:
        if not outer:
            resume_collector()

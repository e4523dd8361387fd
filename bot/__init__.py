"""The bot's wiring: settings, the command line and one adapter per channel."""

import sys

# httpx's package imports its own command line client (`httpx._main`, for `httpx
# https://…` in a shell) whenever click, rich and pygments happen to be installed, and
# catches the ImportError when they are not. None of our processes runs that client, yet
# with the development tools installed it costs ~5 MB and ~25 ms at every start. A None
# entry in sys.modules makes that one import fail as if they were missing, so httpx falls
# back to its stub `main` and everything else in it is untouched. It must run before
# anything imports httpx (PTB does, through telegram.request): every process of ours
# imports this package first.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

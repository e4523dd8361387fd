"""Every command, button and guided step of the bot, registered in one place."""

from __future__ import annotations

from handlers import (
    accounts,
    ballot,
    chair,
    documents,
    leaderboard,
    midyear,
    onboarding,
    reminders,
    reporting,
    review,
)
from handlers.core import Router


def build_router() -> Router:
    """The full router. Order does not matter: commands and buttons are looked up by name,
    and a registration twice is an error."""
    router = Router()
    for module in (
        onboarding,
        accounts,
        reporting,
        review,
        leaderboard,
        chair,
        documents,
        reminders,
        ballot,
        midyear,
    ):
        module.register(router)
    return router

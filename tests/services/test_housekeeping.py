"""Expired drafts and menus, and update ids past their window, are removed; fresh ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Draft, Menu, ProcessedUpdate
from services import drafts, housekeeping, menus, onboarding, updates
from services.addresses import Address
from services.onboarding import Person
from tests.conftest import NOW

ME = Address("zalo", "z-1")


async def test_tidy_removes_only_what_has_expired(session: AsyncSession) -> None:
    user = await onboarding.upsert_user(session, Person(ME, "Cán bộ", None), NOW)
    await session.commit()
    old, fresh = NOW - timedelta(days=3), NOW - timedelta(minutes=5)
    await drafts.save(session, user.id, "report", "value", {}, old)
    await drafts.save(session, user.id, "review", "unit", {}, fresh)
    await menus.remember(session, ME, ["rg:1"], old)
    await menus.remember(session, Address("zalo", "z-2"), ["rg:2"], fresh)
    await session.commit()
    assert await updates.first_time(session, "telegram:1:1", old)
    assert await updates.first_time(session, "telegram:1:2", fresh)

    removed = await housekeeping.tidy(session, NOW)

    assert removed == {"drafts": 1, "menus": 1, "updates": 1}
    assert [d.kind for d in await session.scalars(select(Draft))] == ["review"]
    assert [m.chat for m in await session.scalars(select(Menu))] == ["zalo:z-2"]
    assert [u.key for u in await session.scalars(select(ProcessedUpdate))] == ["telegram:1:2"]
    # A re-delivery inside the window is still recognised; after it, it would be new again.
    assert not await updates.first_time(session, "telegram:1:2", NOW)

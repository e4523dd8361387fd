"""The leaderboard: who sees which cluster's board, and the boards posted to the group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, ClusterYear, LeaderboardPost
from services import audit
from services.access import Actor, Permission
from services.addresses import Address
from services.clusters import current_year, get_cluster
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.standings import Board, boards


async def resolve_cluster(session: AsyncSession, actor: Actor, code: str | None) -> Cluster:
    """The cluster a command is about: the one named, else the actor's own."""
    if code:
        return await get_cluster(session, code)
    if actor.seat is not None:
        return await session.get_one(Cluster, actor.seat.cluster_id)
    if actor.is_admin:
        raise InvalidInput("error.needs_cluster_code")
    raise PermissionDenied("error.not_registered")


async def cluster_named_first(
    session: AsyncSession, actor: Actor, words: list[str]
) -> tuple[Cluster, list[str]]:
    """A command's optional leading cluster code (`/tonghop CUM6-STC Q2`), and the rest."""
    if words:
        named = await session.scalar(
            select(Cluster).where(func.lower(Cluster.code) == words[0].lower())
        )
        if named is not None:
            return named, words[1:]
    return await resolve_cluster(session, actor, None), words


async def working_year(session: AsyncSession, cluster: Cluster, year: int | None) -> ClusterYear:
    """The named year of the cluster, else its working year (the latest open one)."""
    if year is None:
        found = await current_year(session, cluster.id)
    else:
        found = await session.scalar(
            select(ClusterYear).where(
                ClusterYear.cluster_id == cluster.id, ClusterYear.year == year
            )
        )
    if found is None:
        if year is None:
            raise NotFound("error.no_year", cluster=cluster.code)
        raise NotFound("error.year_not_found", cluster=cluster.code, year=year)
    return found


async def cluster_board(
    session: AsyncSession,
    cluster_id: int,
    now: datetime,
    year: int | None = None,
    *,
    since: datetime | None = None,
) -> Board:
    """A cluster's board for a year (default: its working year); no rights checked.
    `since`: movement against the last board posted before it (a private round of boards
    all measure against the same earlier post, not against each other)."""
    cluster = await session.get_one(Cluster, cluster_id)
    cluster_year = await working_year(session, cluster, year)
    found = await boards(session, cluster_year.year, [cluster.id], now, since=since)
    return found[cluster.id]


async def board_by_code(
    session: AsyncSession, cluster_code: str, now: datetime, year: int | None = None
) -> Board:
    """The board of a cluster named by code (the command line)."""
    cluster = await get_cluster(session, cluster_code)
    return await cluster_board(session, cluster.id, now, year)


async def group_cluster(session: AsyncSession, chat: Address) -> Cluster | None:
    return await session.scalar(select(Cluster).where(Cluster.group_address == str(chat)))


async def board(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_code: str | None,
    group: Address | None,
    now: datetime,
) -> Board:
    """/leaderboard: in a linked group, that cluster's board for anyone in the group; in
    private, the officer's own cluster (an admin names one)."""
    if group is not None and not cluster_code:
        cluster = await group_cluster(session, group)
        if cluster is None:
            raise NotFound("error.group_not_linked")
        # Anyone in the group sees what the group is shown every week anyway.
        return await cluster_board(session, cluster.id, now)
    cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.VIEW_LEADERBOARD, cluster.id)
    return await cluster_board(session, cluster.id, now)


async def record_post(
    session: AsyncSession, posted: Board, chat: Address | None, now: datetime, actor: str
) -> None:
    """Keep the board as it was posted: the next one shows movement against it."""
    post = LeaderboardPost(
        cluster_id=posted.cluster_id,
        year=posted.year,
        address=str(chat) if chat else None,
        posted_at=now,
        standings=posted.snapshot(),
    )
    session.add(post)
    await session.flush()
    audit.record(
        session,
        now=now,
        actor=actor,
        action="leaderboard.post",
        entity="leaderboard_post",
        entity_id=post.id,
        cluster_id=posted.cluster_id,
        chat=str(chat) if chat else None,
        year=posted.year,
    )
    await session.commit()

"""The secret ballot (bỏ phiếu kín) of the year-end meeting: the member units choose the
leading unit (đơn vị dẫn đầu) or the units proposed for awards.

Secrecy by construction: a vote adds one to each chosen candidate's tally and records
*that* the unit voted, in one transaction. The tally rows carry no time and no voter; the
"has voted" rows carry no time, no person and no choice; nothing else is written (no audit
entry, no draft left behind). So nothing in the database tells who chose whom, and nobody
— the chair and the admins included — is shown a tally before the ballot closes.

One vote per unit: the "has voted" row's key is (ballot, unit), so a second vote of the
unit, even from another officer at the same instant, fails as a whole and adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Ballot,
    BallotCandidate,
    BallotVoter,
    Cluster,
    ClusterYear,
    Draft,
    Membership,
    Role,
    Unit,
    YearResult,
    YearStatus,
)
from services import audit, scoring
from services.access import Actor, Permission
from services.cluster_file import year_settings
from services.clusters import current_year
from services.contacts import Contact, officer_contacts
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.leaderboard import resolve_cluster

KINDS = ("leading", "award")
OPEN, CLOSED = "open", "closed"
# Ratings from the highest down: "at least good" takes excellent and good.
_RATINGS = ("excellent", "good", "completed", "not_completed")


@dataclass(frozen=True)
class Candidate:
    id: int
    unit_id: int
    code: str
    name: str
    position: int


@dataclass(frozen=True)
class BallotView:
    id: int
    cluster_id: int
    cluster_code: str
    cluster_name: str
    cluster_kind: str
    timezone: str
    language: str
    group_address: str | None
    year: int
    kind: str
    choices: int
    threshold: Decimal
    self_vote: bool
    voters: int
    voted: int  # how many units have voted (a count, never who chose whom)
    status: str
    closes_at: datetime
    candidates: tuple[Candidate, ...]
    unit_voted: bool = False  # the asking officer's unit


@dataclass(frozen=True)
class Tally:
    candidate: Candidate
    votes: int
    share: Decimal  # of all units that may vote
    reached: bool


@dataclass(frozen=True)
class Result:
    ballot: BallotView
    tallies: tuple[Tally, ...]  # most votes first; equal votes in the candidates' order

    @property
    def chosen(self) -> tuple[Tally, ...]:
        return tuple(t for t in self.tallies if t.reached)


async def _view(session: AsyncSession, ballot: Ballot, unit_id: int | None = None) -> BallotView:
    cluster = await session.get_one(Cluster, ballot.cluster_id)
    rows = await session.execute(
        select(BallotCandidate, Unit)
        .join(Unit, Unit.id == BallotCandidate.unit_id)
        .where(BallotCandidate.ballot_id == ballot.id)
        .order_by(BallotCandidate.position)
    )
    candidates = tuple(
        Candidate(c.id, u.id, u.code, u.short_name, c.position) for c, u in rows.all()
    )
    voted = int(
        await session.scalar(
            select(func.count()).select_from(BallotVoter).where(BallotVoter.ballot_id == ballot.id)
        )
        or 0
    )
    unit_voted = unit_id is not None and (
        await session.get(BallotVoter, (ballot.id, unit_id)) is not None
    )
    return BallotView(
        id=ballot.id,
        cluster_id=cluster.id,
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        timezone=cluster.timezone,
        language=cluster.language,
        group_address=cluster.group_address,
        year=ballot.year,
        kind=ballot.kind,
        choices=ballot.choices,
        threshold=ballot.threshold,
        self_vote=ballot.self_vote,
        voters=ballot.voters,
        voted=voted,
        status=ballot.status,
        closes_at=ballot.closes_at,
        candidates=candidates,
        unit_voted=unit_voted,
    )


async def _closed_year(session: AsyncSession, cluster: Cluster) -> ClusterYear:
    year = await session.scalar(
        select(ClusterYear)
        .where(ClusterYear.cluster_id == cluster.id, ClusterYear.status == YearStatus.CLOSED)
        .order_by(ClusterYear.year.desc())
        .limit(1)
    )
    if year is None:
        raise InvalidInput("error.ballot_year_open", cluster=cluster.code)
    return year


async def _voting_units(session: AsyncSession, cluster_id: int, year: int) -> list[int]:
    """The member units of the year that still exist at its end: they vote."""
    rows = await session.execute(
        select(Unit.id, Unit.valid_to)
        .join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.cluster_id == cluster_id, Membership.year == year)
    )
    end = date(year, 12, 31)
    return [unit_id for unit_id, valid_to in rows if valid_to is None or valid_to >= end]


async def open_ballot(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    *,
    kind: str = "leading",
    cluster_code: str | None = None,
    hours: int | None = None,
) -> BallotView:
    """Open the ballot of the cluster's last closed year, with its candidates by rule."""
    if kind not in KINDS:
        raise InvalidInput("error.ballot_kind", kinds=", ".join(KINDS))
    cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.CLOSE_YEAR, cluster.id)
    year = await _closed_year(session, cluster)
    if await _open_row(session, cluster.id) is not None:
        raise InvalidInput("error.ballot_already_open")
    rule = year_settings(year).ballot
    if hours is not None and not 1 <= hours <= 24 * 30:
        raise InvalidInput("error.ballot_hours", most=24 * 30)
    wanted = _RATINGS[: _RATINGS.index(rule.candidates) + 1] if rule.candidates != "all" else None
    query = (
        select(YearResult)
        .where(YearResult.cluster_id == cluster.id, YearResult.year == year.year)
        .order_by(YearResult.rank, YearResult.verified_total.desc(), YearResult.unit_id)
    )
    results = [r for r in await session.scalars(query) if wanted is None or r.rating in wanted]
    if not results:
        raise InvalidInput("error.ballot_no_candidates", year=year.year)
    voters = await _voting_units(session, cluster.id, year.year)
    ballot = Ballot(
        cluster_id=cluster.id,
        year=year.year,
        kind=kind,
        choices=min(rule.choices, len(results)),
        threshold=rule.threshold,
        self_vote=rule.self_vote,
        voters=len(voters),
        status=OPEN,
        opened_by=actor.audit_name,
        opened_at=now,
        closes_at=now + timedelta(hours=hours or rule.hours),
        closed_at=None,
    )
    session.add(ballot)
    await session.flush()
    session.add_all(
        BallotCandidate(ballot_id=ballot.id, unit_id=r.unit_id, position=i, votes=0)
        for i, r in enumerate(results, start=1)
    )
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="ballot.open",
        entity="ballot",
        entity_id=ballot.id,
        cluster_id=cluster.id,
        year=year.year,
        kind=kind,
        candidates=len(results),
    )
    await session.commit()
    return await _view(session, ballot)


async def _open_row(session: AsyncSession, cluster_id: int) -> Ballot | None:
    found: Ballot | None = await session.scalar(
        select(Ballot)
        .where(Ballot.cluster_id == cluster_id, Ballot.status == OPEN)
        .order_by(Ballot.id.desc())
        .limit(1)
    )
    return found


async def current(
    session: AsyncSession, actor: Actor, cluster_code: str | None = None
) -> BallotView:
    """The cluster's open ballot, as the asking officer's unit sees it."""
    cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.VIEW_LEADERBOARD, cluster.id)
    ballot = await _open_row(session, cluster.id)
    if ballot is None:
        raise NotFound("error.ballot_none", cluster=cluster.code)
    unit_id = actor.seat.unit_id if actor.seat and actor.seat.cluster_id == cluster.id else None
    return await _view(session, ballot, unit_id)


@dataclass(frozen=True)
class Cast:
    ballot: BallotView
    result: Result | None  # the ballot closed with this vote (every unit has voted)


async def cast(
    session: AsyncSession,
    actor: Actor,
    ballot_id: int,
    candidate_ids: list[int],
    now: datetime,
) -> Cast:
    """The officer's unit votes for these candidates: once, secretly, for good."""
    ballot = await session.get(Ballot, ballot_id)
    if ballot is None or ballot.status != OPEN or now >= ballot.closes_at:
        raise InvalidInput("error.ballot_closed")
    seat = actor.seat
    if seat is None or seat.cluster_id != ballot.cluster_id:
        raise PermissionDenied("error.ballot_not_member")
    if seat.unit_id not in await _voting_units(session, ballot.cluster_id, ballot.year):
        raise PermissionDenied("error.ballot_not_member")
    chosen = list(dict.fromkeys(candidate_ids))
    if not 1 <= len(chosen) <= ballot.choices or len(chosen) != len(candidate_ids):
        raise InvalidInput("error.ballot_choices", most=ballot.choices)
    rows = list(
        await session.scalars(
            select(BallotCandidate).where(
                BallotCandidate.ballot_id == ballot.id, BallotCandidate.id.in_(chosen)
            )
        )
    )
    if len(rows) != len(chosen):
        raise InvalidInput("error.stale_button")
    if not ballot.self_vote and any(r.unit_id == seat.unit_id for r in rows):
        raise InvalidInput("error.ballot_self")
    # One transaction: the unit has voted, and the tallies grew. Nothing else is written.
    session.add(BallotVoter(ballot_id=ballot.id, unit_id=seat.unit_id))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise InvalidInput("error.ballot_already_voted") from None
    await session.execute(
        update(BallotCandidate)
        .where(BallotCandidate.id.in_(chosen))
        .values(votes=BallotCandidate.votes + 1)
    )
    if actor.user_id is not None:  # the choice being made, if it was kept, goes with it
        await session.execute(
            delete(Draft).where(Draft.user_id == actor.user_id, Draft.kind == "ballot")
        )
    try:
        await session.commit()
    except IntegrityError:  # another officer of the unit voted at the same instant
        await session.rollback()
        raise InvalidInput("error.ballot_already_voted") from None
    view = await _view(session, ballot, seat.unit_id)
    result = None
    if view.voted >= view.voters:
        result = await close(session, ballot.id, now, by="system")
        view = result.ballot
    return Cast(view, result)


async def close(session: AsyncSession, ballot_id: int, now: datetime, by: str) -> Result:
    """Close the ballot (at its time, when every unit has voted, or by the chair) and count."""
    ballot = await session.get_one(Ballot, ballot_id)
    if ballot.status != CLOSED:
        ballot.status, ballot.closed_at = CLOSED, now
        await _break_ties(session, ballot)
        audit.record(
            session,
            now=now,
            actor=by,
            action="ballot.close",
            entity="ballot",
            entity_id=ballot.id,
            cluster_id=ballot.cluster_id,
        )
        await session.commit()
    return await result(session, ballot)


async def _break_ties(session: AsyncSession, ballot: Ballot) -> None:
    """tie_rule = "ballot": the year result's equal totals now follow the leading-unit
    ballot (the board and the export read the same votes, services.standings)."""
    year = await session.scalar(
        select(ClusterYear).where(
            ClusterYear.cluster_id == ballot.cluster_id, ClusterYear.year == ballot.year
        )
    )
    if ballot.kind != "leading" or year is None or year_settings(year).rating.tie_rule != "ballot":
        return
    votes = dict(
        (await session.execute(
            select(BallotCandidate.unit_id, BallotCandidate.votes).where(
                BallotCandidate.ballot_id == ballot.id
            )
        )).all()
    )  # fmt: skip
    results = list(
        await session.scalars(
            select(YearResult).where(
                YearResult.cluster_id == ballot.cluster_id, YearResult.year == ballot.year
            )
        )
    )
    ranks = scoring.rank(
        {str(r.unit_id): r.verified_total for r in results},
        {str(unit_id): int(n) for unit_id, n in votes.items()},
    )
    for r in results:
        r.rank = ranks[str(r.unit_id)]


async def close_by_chair(
    session: AsyncSession, actor: Actor, now: datetime, cluster_code: str | None = None
) -> Result:
    cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.CLOSE_YEAR, cluster.id)
    ballot = await _open_row(session, cluster.id)
    if ballot is None:
        raise NotFound("error.ballot_none", cluster=cluster.code)
    return await close(session, ballot.id, now, by=actor.audit_name)


async def close_due(session: AsyncSession, now: datetime) -> list[Result]:
    """Ballots whose time has come (the reminders' tick asks every minute)."""
    due = list(
        await session.scalars(select(Ballot).where(Ballot.status == OPEN, Ballot.closes_at <= now))
    )
    return [await close(session, b.id, now, by="system") for b in due]


@dataclass(frozen=True)
class Waiting:
    """An open ballot and the voting units that have not voted yet (the reminders ask)."""

    id: int
    cluster_id: int
    kind: str
    year: int
    opened_at: datetime
    closes_at: datetime
    remind_before_hours: tuple[int, ...]
    units: tuple[int, ...]


async def waiting(session: AsyncSession, now: datetime) -> list[Waiting]:
    """Every ballot still open at `now`, with who has not voted (a set, never an order of
    votes: the "has voted" rows have no time)."""
    found = []
    for b in await session.scalars(
        select(Ballot).where(Ballot.status == OPEN, Ballot.closes_at > now).order_by(Ballot.id)
    ):
        voted = set(
            await session.scalars(select(BallotVoter.unit_id).where(BallotVoter.ballot_id == b.id))
        )
        units = [u for u in await _voting_units(session, b.cluster_id, b.year) if u not in voted]
        year = await session.scalar(
            select(ClusterYear).where(
                ClusterYear.cluster_id == b.cluster_id, ClusterYear.year == b.year
            )
        )
        hours = year_settings(year).ballot.remind_before_hours if year is not None else []
        found.append(
            Waiting(
                b.id,
                b.cluster_id,
                b.kind,
                b.year,
                b.opened_at,
                b.closes_at,
                tuple(sorted(set(hours), reverse=True)),
                tuple(units),
            )
        )
    return found


async def result(session: AsyncSession, ballot: Ballot) -> Result:
    """The count of a closed ballot; refused while it is open (no running tally)."""
    if ballot.status != CLOSED:
        raise InvalidInput("error.ballot_still_open")
    view = await _view(session, ballot)
    votes = dict(
        (await session.execute(
            select(BallotCandidate.id, BallotCandidate.votes).where(
                BallotCandidate.ballot_id == ballot.id
            )
        )).all()
    )  # fmt: skip
    tallies = []
    for c in view.candidates:
        n = int(votes.get(c.id, 0))
        share = Decimal(n) / Decimal(view.voters) if view.voters else Decimal(0)
        tallies.append(Tally(c, n, share, share >= view.threshold and n > 0))
    tallies.sort(key=lambda t: (-t.votes, t.candidate.position))
    return Result(view, tuple(tallies))


async def contacts(
    session: AsyncSession, view: BallotView, *, leaders_only: bool = False
) -> list[Contact]:
    """Who hears of the ballot: every reachable officer of the cluster, or only those of
    the chair's and vice-chair's units of the working year (the results)."""
    found = await officer_contacts(session, view.cluster_id)
    if not leaders_only:
        return found
    year = await current_year(session, view.cluster_id)
    if year is None:
        return []
    leaders = set(
        await session.scalars(
            select(Membership.unit_id).where(
                Membership.cluster_id == view.cluster_id,
                Membership.year == year.year,
                Membership.role.in_([Role.CHAIR, Role.VICE_CHAIR]),
            )
        )
    )
    return [c for c in found if c.unit_id in leaders]


async def leading_result(session: AsyncSession, cluster_id: int, year: int) -> Result | None:
    """The count of the year's latest closed ballot for the leading unit, if there is one
    (the minutes of the meeting print it)."""
    found = await session.scalar(
        select(Ballot)
        .where(
            Ballot.cluster_id == cluster_id,
            Ballot.year == year,
            Ballot.kind == "leading",
            Ballot.status == CLOSED,
        )
        .order_by(Ballot.id.desc())
        .limit(1)
    )
    return await result(session, found) if found is not None else None

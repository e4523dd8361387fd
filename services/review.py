"""The chair's review (thẩm định) and the unit's explanation (giải trình).

The chair (or vice-chair, or an admin) verifies a unit's newest report on a criterion as
proposed, or adjusts its score with a reason. Reviews are append-only: a revision is a new
row, and the newest review of the newest report version is what ranks. The unit's officers
are told and may answer with an explanation, which the chair and vice-chair are told of.
Every step is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    CriterionKind,
    EvidenceFile,
    Explanation,
    Membership,
    Review,
    Role,
    Unit,
    YearStatus,
)
from services import audit
from services.access import Actor, Permission
from services.addresses import Address
from services.contacts import officer_contacts
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.leaderboard import resolve_cluster, working_year
from services.onboarding import Person, upsert_user
from services.standings import Entry, Leaf, Member, YearData, load_years
from services.values import parse_number

NOTE_LIMIT = 2000
_CENT = Decimal("0.01")
KEEP_WORDS = frozenset({"=", "ok", "giữ", "giu", "keep"})


@dataclass(frozen=True)
class Recipient:
    address: Address
    language: str | None


@dataclass(frozen=True)
class UnitLine:
    member: Member
    reported: int
    pending: int  # newest versions without a review


@dataclass(frozen=True)
class UnitsView:
    cluster_code: str
    cluster_kind: str
    year: int
    units: list[UnitLine]


@dataclass(frozen=True)
class ItemLine:
    leaf: Leaf
    entry: Entry


@dataclass(frozen=True)
class ItemsView:
    cluster_code: str
    year: int
    member: Member
    items: list[ItemLine]


@dataclass(frozen=True)
class ExplanationView:
    text: str
    at: datetime


@dataclass(frozen=True)
class ItemDetail:
    cluster_code: str
    year: int
    member: Member
    leaf: Leaf
    entry: Entry
    max_points: Decimal  # in force when the report was made
    evidence: list[str]
    explanations: list[ExplanationView]  # answers to the current review


@dataclass(frozen=True)
class Reviewed:
    cluster_code: str
    cluster_kind: str
    year: int
    member: Member
    leaf: Leaf
    entry: Entry  # the report version reviewed
    verified: Decimal
    previous: Decimal | None  # the verified score before this review, if any
    reason: str | None
    recipients: list[Recipient]

    @property
    def adjusted(self) -> bool:
        return self.verified != self.entry.proposed


@dataclass(frozen=True)
class Explained:
    cluster_code: str
    unit_code: str
    unit_name: str
    leaf: Leaf
    entry: Entry
    text: str
    recipients: list[Recipient]


class _Scope:
    """The cluster and working year a review command is about, with everyone's reports."""

    cluster: Cluster
    year: ClusterYear
    data: YearData

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.s = session
        self.actor = actor

    async def load(self, cluster_code: str | None, unit_code: str | None = None) -> _Scope:
        if cluster_code is None and unit_code and self.actor.seat is None and self.actor.is_admin:
            # An admin without a seat names a unit; its cluster follows from its membership.
            cluster_code = await self._cluster_of_unit(unit_code)
        self.cluster = await resolve_cluster(self.s, self.actor, cluster_code)
        self.actor.require(Permission.REVIEW, self.cluster.id)
        self.year = await working_year(self.s, self.cluster, None)
        self.data = (await load_years(self.s, self.year.year, [self.cluster.id]))[self.cluster.id]
        return self

    async def _cluster_of_unit(self, unit_code: str) -> str | None:
        return await self.s.scalar(
            select(Cluster.code)
            .join(Membership, Membership.cluster_id == Cluster.id)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(func.lower(Unit.code) == unit_code.strip().lower())
            .order_by(Membership.year.desc())
            .limit(1)
        )

    def member(self, code: str) -> Member:
        wanted = code.strip().lower()
        for member in self.data.members:
            if member.code.lower() == wanted:
                return member
        raise NotFound("error.unit_not_found", code=code.strip(), cluster=self.cluster.code)

    def leaf(self, code: str) -> Leaf:
        wanted = code.strip().rstrip(".").lower()
        for leaf in self.data.leaves:
            if leaf.code.lower() == wanted:
                return leaf
        if any(group.code.lower() == wanted for group in self.data.groups):
            raise InvalidInput("error.criterion_is_group", code=code.strip())
        raise NotFound(
            "error.review_criterion_not_found", code=code.strip(), cluster=self.cluster.code
        )

    def entry(self, member: Member, leaf: Leaf) -> Entry:
        found = self.data.entry(member.unit_id, leaf.id)
        if found is None:
            raise NotFound("error.review_not_reported", unit=member.short_name, code=leaf.code)
        return found

    def not_own(self, member: Member) -> None:
        # Nobody verifies their own unit's scores: the vice-chair (or an admin) reviews the
        # chair's unit, and the chair the vice-chair's.
        seat = self.actor.seat
        if not self.actor.is_admin and seat is not None and seat.unit_id == member.unit_id:
            raise PermissionDenied("error.review_own_unit")

    def open_year(self) -> None:
        if self.year.status is YearStatus.CLOSED:
            raise InvalidInput("error.review_year_closed", year=self.year.year)


async def units(session: AsyncSession, actor: Actor, *, cluster_code: str | None) -> UnitsView:
    """The member units with how many of their newest reports await review."""
    scope = await _Scope(session, actor).load(cluster_code)
    lines = []
    for member in scope.data.members:
        entries = [scope.data.entry(member.unit_id, leaf.id) for leaf in scope.data.leaves]
        reported = [e for e in entries if e is not None]
        lines.append(
            UnitLine(
                member=member,
                reported=len(reported),
                pending=sum(1 for e in reported if e.verified is None),
            )
        )
    return UnitsView(scope.cluster.code, scope.cluster.kind.value, scope.year.year, lines)


async def items(
    session: AsyncSession, actor: Actor, *, cluster_code: str | None, unit_code: str
) -> ItemsView:
    """A unit's reported criteria, each with its newest version and review."""
    scope = await _Scope(session, actor).load(cluster_code, unit_code)
    member = scope.member(unit_code)
    lines = [
        ItemLine(leaf, entry)
        for leaf in scope.data.leaves
        if (entry := scope.data.entry(member.unit_id, leaf.id)) is not None
    ]
    return ItemsView(scope.cluster.code, scope.year.year, member, lines)


async def item(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_code: str | None,
    unit_code: str,
    criterion_code: str,
) -> ItemDetail:
    """One unit's newest report on a criterion: value, proposed, note, evidence, answers."""
    scope = await _Scope(session, actor).load(cluster_code, unit_code)
    member = scope.member(unit_code)
    leaf = scope.leaf(criterion_code)
    entry = scope.entry(member, leaf)
    files = list(
        await session.scalars(
            select(EvidenceFile.file_name)
            .where(EvidenceFile.report_id == entry.report_id)
            .order_by(EvidenceFile.id)
        )
    )
    answers: list[ExplanationView] = []
    if entry.review_id is not None:
        answers = [
            ExplanationView(text, at)
            for text, at in await session.execute(
                select(Explanation.text, Explanation.created_at)
                .where(Explanation.review_id == entry.review_id)
                .order_by(Explanation.created_at, Explanation.id)
            )
        ]
    return ItemDetail(
        cluster_code=scope.cluster.code,
        year=scope.year.year,
        member=member,
        leaf=leaf,
        entry=entry,
        max_points=entry.max_points if entry.max_points is not None else leaf.max_points,
        evidence=files,
        explanations=answers,
    )


def parse_score(text: str, leaf: Leaf, maximum: Decimal, language: str) -> Decimal:
    """The verified score the chair typed: 0…max, or for a penalty the points deducted.

    A penalty is stored negative (as reports store it), and the chair may type the points
    deducted either way: `2` and `-2` both mean two points off, never more than its max.
    """
    value = parse_number(text, language)
    if leaf.kind is CriterionKind.PENALTY:
        magnitude = abs(value)
        if magnitude > maximum:
            raise InvalidInput("error.review_above_max", text=text.strip(), max=maximum)
        return -magnitude.quantize(_CENT, rounding=ROUND_HALF_UP)
    if value < 0:
        raise InvalidInput("error.review_negative", text=text.strip())
    if value > maximum:
        raise InvalidInput("error.review_above_max", text=text.strip(), max=maximum)
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ScoreCheck:
    verified: Decimal
    proposed: Decimal

    @property
    def adjusted(self) -> bool:
        return self.verified != self.proposed


async def check_score(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_code: str | None,
    unit_code: str,
    criterion_code: str,
    score_text: str,
    language: str,
) -> ScoreCheck:
    """Validate a typed score before asking for the reason (nothing is stored)."""
    scope = await _Scope(session, actor).load(cluster_code, unit_code)
    scope.open_year()
    member = scope.member(unit_code)
    scope.not_own(member)
    leaf = scope.leaf(criterion_code)
    entry = scope.entry(member, leaf)
    maximum = entry.max_points if entry.max_points is not None else leaf.max_points
    return ScoreCheck(parse_score(score_text, leaf, maximum, language), entry.proposed)


async def _officers(session: AsyncSession, cluster_id: int, unit_ids: list[int]) -> list[Recipient]:
    seen: dict[Address, Recipient] = {}
    for contact in await officer_contacts(session, cluster_id, unit_ids):
        seen.setdefault(contact.address, Recipient(contact.address, contact.language))
    return sorted(seen.values(), key=lambda r: r.address)


async def submit(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_code: str | None,
    unit_code: str,
    criterion_code: str,
    score_text: str | None,
    reason: str | None,
    report_id: int | None,
    reviewer: Person,
    language: str,
    now: datetime,
) -> Reviewed:
    """Verify (score_text None: as proposed) or adjust a unit's newest report on a criterion."""
    scope = await _Scope(session, actor).load(cluster_code, unit_code)
    scope.open_year()
    member = scope.member(unit_code)
    scope.not_own(member)
    leaf = scope.leaf(criterion_code)
    entry = scope.entry(member, leaf)
    if report_id is not None and report_id != entry.report_id:
        # The unit sent a new version while the chair was looking at the old one.
        raise InvalidInput("error.review_stale", code=leaf.code, version=entry.version)
    maximum = entry.max_points if entry.max_points is not None else leaf.max_points
    if score_text is None or score_text.strip().lower() in KEEP_WORDS:
        verified = entry.proposed
    else:
        verified = parse_score(score_text, leaf, maximum, language)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > NOTE_LIMIT:
        raise InvalidInput("error.note_too_long", limit=NOTE_LIMIT)
    if verified != entry.proposed and reason is None:
        raise InvalidInput("error.review_needs_reason", code=leaf.code)
    user = await upsert_user(session, reviewer, now)
    review = Review(
        report_id=entry.report_id,
        verified_score=verified,
        reason=reason,
        reviewer_id=user.id,
        reviewed_at=now,
    )
    session.add(review)
    await session.flush()
    adjusted = verified != entry.proposed
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="review.adjust" if adjusted else "review.verify",
        entity="review",
        entity_id=review.id,
        cluster_id=scope.cluster.id,
        unit=member.code,
        criterion=leaf.code,
        period=entry.period_code,
        version=entry.version,
        report_id=entry.report_id,
        proposed=str(entry.proposed),
        verified=str(verified),
        previous=str(entry.verified) if entry.verified is not None else None,
        reason=reason,
    )
    recipients = await _officers(session, scope.cluster.id, [member.unit_id])
    await session.commit()
    return Reviewed(
        cluster_code=scope.cluster.code,
        cluster_kind=scope.cluster.kind.value,
        year=scope.year.year,
        member=member,
        leaf=leaf,
        entry=entry,
        verified=verified,
        previous=entry.verified,
        reason=reason,
        recipients=recipients,
    )


async def explain(
    session: AsyncSession, actor: Actor, *, criterion_code: str, text: str, now: datetime
) -> Explained:
    """/giaitrinh CODE text: the unit's answer to the chair's newest review of a criterion."""
    seat = actor.seat
    if seat is None:
        raise PermissionDenied("error.not_registered")
    actor.require(Permission.REPORT, seat.cluster_id)
    cluster = await session.get_one(Cluster, seat.cluster_id)
    year = await working_year(session, cluster, None)
    if year.status is YearStatus.CLOSED:
        raise InvalidInput("error.review_year_closed", year=year.year)
    data = (await load_years(session, year.year, [cluster.id]))[cluster.id]
    wanted = criterion_code.strip().rstrip(".").lower()
    leaf = next((lf for lf in data.leaves if lf.code.lower() == wanted), None)
    if leaf is None:
        raise NotFound(
            "error.review_criterion_not_found", code=criterion_code.strip(), cluster=cluster.code
        )
    entry = data.entry(seat.unit_id, leaf.id)
    if entry is None or entry.review_id is None:
        raise InvalidInput("error.explain_no_review", code=leaf.code)
    text = text.strip()
    if not text:
        raise InvalidInput("error.explain_usage")
    if len(text) > NOTE_LIMIT:
        raise InvalidInput("error.note_too_long", limit=NOTE_LIMIT)
    assert actor.user_id is not None  # an officer has a user row
    explanation = Explanation(
        review_id=entry.review_id,
        report_id=entry.report_id,
        text=text,
        user_id=actor.user_id,
        created_at=now,
    )
    session.add(explanation)
    await session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="review.explain",
        entity="explanation",
        entity_id=explanation.id,
        cluster_id=cluster.id,
        unit=seat.unit_code,
        criterion=leaf.code,
        review_id=entry.review_id,
        report_id=entry.report_id,
    )
    leaders = list(
        await session.scalars(
            select(Membership.unit_id).where(
                Membership.cluster_id == cluster.id,
                Membership.year == year.year,
                Membership.role.in_([Role.CHAIR, Role.VICE_CHAIR]),
            )
        )
    )
    recipients = await _officers(session, cluster.id, leaders)
    await session.commit()
    return Explained(
        cluster_code=cluster.code,
        unit_code=seat.unit_code,
        unit_name=seat.unit_name,
        leaf=leaf,
        entry=entry,
        text=text,
        recipients=recipients,
    )

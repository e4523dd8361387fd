"""The tables. History is never deleted: rows are closed (valid_to, active=False, revoked_at)
or superseded by a newer version, and every change of consequence lands in the audit log."""

from __future__ import annotations

import enum
import itertools
import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    exists,
    or_,
    tuple_,
    update,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    UOWTransaction,
    mapped_column,
    relationship,
)

from models.types import Points, UTCDateTime

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        Decimal: Points(),
        dict[str, Any]: JSON(),
    }


def new_revision() -> int:
    """A fresh stamp for a year's rules. Random rather than a counter: two databases (the
    tests' fresh ones, a restored backup) never give one process the same (year id,
    revision) for different rules."""
    return secrets.randbits(62)


def _enum(cls: type[enum.Enum]) -> SAEnum:
    # Stored as plain strings (no native PG enum): adding a kind later is a data change,
    # not an ALTER TYPE.
    return SAEnum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda e: [m.value for m in e],
    )


class ClusterKind(enum.StrEnum):
    CUM = "cum"  # spans provinces, e.g. Finance Departments of 6 provinces
    KHOI = "khoi"  # inside one province, e.g. central agencies in Tây Ninh


class Role(enum.StrEnum):
    MEMBER = "member"
    VICE_CHAIR = "vice_chair"
    CHAIR = "chair"


class CriterionKind(enum.StrEnum):
    GROUP = "group"
    QUANTITATIVE = "quantitative"
    YES_NO = "yes_no"
    COUNT = "count"
    JUDGED = "judged"
    BONUS = "bonus"
    PENALTY = "penalty"


class YearStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Cadence(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[ClusterKind] = mapped_column(_enum(ClusterKind))
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    # The cluster's group chat as a channel address ("telegram:-100123"): where the board
    # and the group reminders go.
    group_address: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Unit(Base):
    """A member agency. Units merge and disappear (1/7/2025: 63 provinces became 34), so a
    unit has validity dates and a successor instead of ever being deleted."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    short_name: Mapped[str] = mapped_column(String(80))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    successor: Mapped[Unit | None] = relationship(remote_side=[id], lazy="raise")


class ClusterYear(Base):
    """One cluster's year: its rules (cadence, deadlines, reminders, rating thresholds) are
    data here, because they differ by cluster and by year."""

    __tablename__ = "cluster_years"
    __table_args__ = (UniqueConstraint("cluster_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[YearStatus] = mapped_column(_enum(YearStatus))
    cadence: Mapped[Cadence] = mapped_column(_enum(Cadence))
    # Deadline of a period: this day of the month after the period ends, at this local time.
    deadline_day: Mapped[int] = mapped_column(Integer)
    deadline_time: Mapped[str] = mapped_column(String(5))
    # A report later than this many days after the deadline is refused; 0 = never locked.
    late_lock_days: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]]  # reminders, leaderboard, rating, tie rule, plan
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A stamp of the year's rules (this row, its criteria, unit targets and periods), new
    # whenever any of them changes (see `_rules_changed` below): processes cache the rules
    # by (id, revision) and read the revision with the actor, so an import is seen at once.
    revision: Mapped[int] = mapped_column(BigInteger, default=new_revision, server_default="0")


class Membership(Base):
    """A unit's place in a cluster for one year, with its role and the decision that set it.
    Roles are time-bound: who chaired when is read from these rows, never overwritten."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("cluster_id", "year", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    year: Mapped[int] = mapped_column(Integer)
    role: Mapped[Role] = mapped_column(_enum(Role))
    decision: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Pledge(Base):
    """The year's signed emulation pledge (giao ước thi đua) of one unit."""

    __tablename__ = "pledges"
    __table_args__ = (UniqueConstraint("cluster_id", "year", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    year: Mapped[int] = mapped_column(Integer)
    signed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]


class User(Base):
    """A person who has talked to the bot, officer or not, on one channel or several."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    # Where scheduled messages go (/kenh): a channel name, or None for the one used last.
    channel: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Identity(Base):
    """One of a person's accounts on a chat channel (Telegram, Zalo, the console)."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_identities_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    # False once the channel says the person blocked the bot; reminders skip this identity.
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # The channel last used is where scheduled messages go.
    last_seen_at: Mapped[datetime]


class Draft(Base):
    """A guided dialogue in progress (a report, a review): its step and what was typed so
    far. In the database, so a restart or another webhook worker takes the next step."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LinkCode(Base):
    """A short-lived code that attaches another channel's account to a person (/lienket):
    asked for on one channel, sent from the other. Only its hash is kept, as for invites."""

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProcessedUpdate(Base):
    """An update already taken, by channel, bot and the platform's id: a re-delivery (a
    webhook retry, a poll after a time-out) is not handled twice. Kept two days."""

    __tablename__ = "processed_updates"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class Menu(Base):
    """The numbered choices last shown in a chat of a channel without buttons (Zalo, the
    console): typing "2" presses the second. In the database, so any worker reads it."""

    __tablename__ = "menus"

    chat: Mapped[str] = mapped_column(String(120), primary_key=True)  # an address
    options: Mapped[list[str]] = mapped_column(JSON())  # each choice's data, in the order shown
    expires_at: Mapped[datetime]


class Officer(Base):
    """A liaison officer (công chức làm công tác thi đua) reporting for a unit. Several per
    unit are normal; leaving closes the row, it is never deleted."""

    __tablename__ = "officers"
    __table_args__ = (Index("ix_officers_user_active", "user_id", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class Invite(Base):
    """A deep-link invitation for one unit. Only a hash of the token is kept: a leaked
    database does not leak working invitations."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(80))


class Criterion(Base):
    """A node of the year's criteria tree. Only leaves are scored; groups sum children."""

    __tablename__ = "criteria"
    __table_args__ = (UniqueConstraint("cluster_id", "year", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("criteria.id"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[CriterionKind] = mapped_column(_enum(CriterionKind))
    max_points: Mapped[Decimal | None]
    points_each: Mapped[Decimal | None]
    target: Mapped[Decimal | None]
    measure_unit: Mapped[str | None] = mapped_column(String(40))
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Quantitative: the cluster's best performer gets the maximum and others scale to it.
    scale_to_best: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer)
    # A criterion dropped from the cluster file is retired, not deleted: reports keep it.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UnitTarget(Base):
    """A unit's own target for a quantitative criterion (e.g. its revenue estimate)."""

    __tablename__ = "unit_targets"
    __table_args__ = (UniqueConstraint("criterion_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    target: Mapped[Decimal]


class Period(Base):
    """A reporting period (month, quarter, half-year or year) with its deadline."""

    __tablename__ = "periods"
    __table_args__ = (UniqueConstraint("cluster_id", "year", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Report(Base):
    """One version of a unit's report on a criterion for a period. A correction is a new
    row with the next version; earlier rows are never updated."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("unit_id", "criterion_id", "period_id", "version"),
        Index("ix_reports_period_unit", "period_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal | None]
    proposed_score: Mapped[Decimal | None]
    # The maximum in force when the report was made; the tree may change later.
    max_points: Mapped[Decimal | None]
    note: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime]


class EvidenceFile(Base):
    """A file attached to a report: the channel's reference to it, and the stored copy."""

    __tablename__ = "evidence_files"
    __table_args__ = (Index("ix_evidence_files_report_id", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    # "telegram:<file_id>" (or a Zalo image URL): how the channel fetches it again.
    file_ref: Mapped[str] = mapped_column(String(1024))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class Review(Base):
    """The chair's verification of a report, append-only: a revision is a new row."""

    __tablename__ = "reviews"
    # Every board finds the newest review of each report: without this, one cluster's
    # board would scan the reviews of the whole country.
    __table_args__ = (Index("ix_reviews_report_id", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    verified_score: Mapped[Decimal]
    reason: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only log of every change of consequence: who, when, what, on which record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_cluster_at", "cluster_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))  # "telegram:<id>", "cli", "system"
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id"))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]]


class ReminderLog(Base):
    """The ledger of scheduled messages. A row is claimed (inserted) before the message is
    sent; the unique key makes a second claim impossible, across restarts and processes.
    A claim is held by its owner until its lease ends: a claim whose owner died is taken
    over once the lease has passed (services/reminders/ledger.py)."""

    __tablename__ = "reminder_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    # rule|period|unit|recipient, e.g. "before:3|12|4|telegram:555123"
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    rule: Mapped[str] = mapped_column(String(40))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    recipient: Mapped[str] = mapped_column(String(128))  # a channel address
    # claimed → sent | failed | blocked | skipped
    status: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(Text)
    # The process that holds (or last held) the claim: "host:pid:random", unique per run.
    # NULL on rows written before revision 0007.
    owner: Mapped[str | None] = mapped_column(String(100))
    # Until when a `claimed` row is held by its owner; after it, any process may take it
    # over. NULL on rows claimed before revision 0007: their lease is claimed_at + LEASE.
    lease_until: Mapped[datetime | None]


class LeaderboardPost(Base):
    """A leaderboard as it was posted, so the next one can show who moved (↑2, ↓1, =)."""

    __tablename__ = "leaderboard_posts"
    __table_args__ = (Index("ix_leaderboard_posts_cluster_year", "cluster_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(128))
    posted_at: Mapped[datetime]
    # {"<unit_id>": {"rank": 1, "verified": "91.5", "proposed": "93"}}
    standings: Mapped[dict[str, Any]]


class Explanation(Base):
    """A unit's answer (giải trình) to the chair's review of one of its reports."""

    __tablename__ = "explanations"
    __table_args__ = (Index("ix_explanations_review_id", "review_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    text: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Ballot(Base):
    """A secret ballot of a closed year: who may be chosen, how, until when. Its tallies are
    on the candidates' rows and who has voted is a separate list: no row links a unit to
    its choice (docs/ballot.md)."""

    __tablename__ = "ballots"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # "leading" (dẫn đầu) or "award"
    choices: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[Decimal]
    self_vote: Mapped[bool] = mapped_column(Boolean)
    voters: Mapped[int] = mapped_column(Integer)  # member units that may vote
    status: Mapped[str] = mapped_column(String(10))  # open, closed
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class BallotCandidate(Base):
    """A unit that may be chosen, and its tally (read only once the ballot has closed)."""

    __tablename__ = "ballot_candidates"
    __table_args__ = (UniqueConstraint("ballot_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    position: Mapped[int] = mapped_column(Integer)
    votes: Mapped[int] = mapped_column(Integer, default=0)


class BallotVoter(Base):
    """That a unit has voted: no time, no person, no order that could be matched to a
    tally's change. Its key makes a second vote of the unit fail."""

    __tablename__ = "ballot_voters"

    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)


class YearResult(Base):
    """The final ranking and rating of a closed year, kept as published."""

    __tablename__ = "year_results"
    __table_args__ = (UniqueConstraint("cluster_id", "year", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    year: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    proposed_total: Mapped[Decimal]
    verified_total: Mapped[Decimal]
    rank: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


# ---------------------------------------------------------------- the rules' revision


_YEARS = cast(Table, ClusterYear.__table__)
_RULE_TABLES = frozenset({"cluster_years", "criteria", "unit_targets", "periods"})


@event.listens_for(Session, "after_flush")
def _rules_changed(session: Session, _flush: UOWTransaction) -> None:
    """A flush that inserted, changed or deleted a row of a year's rules gives that year a
    new revision, in the same transaction. Every writer goes through here (the import, the
    year's close and hand-over, a test's own edit), so none can forget it."""
    years: set[tuple[int, int]] = set()
    year_ids: set[int] = set()
    criterion_ids: set[int] = set()
    dirty = [o for o in session.dirty if session.is_modified(o)]
    for obj in itertools.chain(session.new, session.deleted, dirty):
        if isinstance(obj, Criterion | Period):
            years.add((obj.cluster_id, obj.year))
        elif isinstance(obj, UnitTarget):
            criterion_ids.add(obj.criterion_id)
        elif isinstance(obj, ClusterYear) and obj not in session.new:
            year_ids.add(obj.id)  # a new year was born with a fresh revision
    conditions: list[ColumnElement[bool]] = []
    if years:
        conditions.append(tuple_(_YEARS.c.cluster_id, _YEARS.c.year).in_(sorted(years)))
    if year_ids:
        conditions.append(_YEARS.c.id.in_(sorted(year_ids)))
    if criterion_ids:
        c = Criterion.__table__.c
        conditions.append(
            exists().where(
                c.id.in_(sorted(criterion_ids)),
                c.cluster_id == _YEARS.c.cluster_id,
                c.year == _YEARS.c.year,
            )
        )
    if conditions:
        session.connection().execute(
            update(_YEARS).where(or_(*conditions)).values(revision=new_revision())
        )


@event.listens_for(Session, "do_orm_execute")
def _rules_statement(state: ORMExecuteState) -> None:
    """A bulk INSERT, UPDATE or DELETE on a rules table names no single year: every year
    gets a new revision (rare: no service writes the rules this way, a test may)."""
    if state.is_select or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _RULE_TABLES:
        state.session.connection().execute(update(_YEARS).values(revision=new_revision()))

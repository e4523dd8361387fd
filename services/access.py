"""Who may do what. Roles are decided here, never in a handler, so every channel enforces
the same matrix."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Select, Table, and_, bindparam, exists, false, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Identity,
    Membership,
    Officer,
    ProcessedUpdate,
    Role,
    Unit,
    User,
    YearStatus,
)
from services import cache
from services.addresses import Address
from services.errors import PermissionDenied


class Permission(enum.StrEnum):
    REPORT = "report"
    VIEW_PROGRESS = "view_progress"
    VIEW_LEADERBOARD = "view_leaderboard"
    VIEW_SUMMARY = "view_summary"
    REVIEW = "review"
    EXPORT = "export"
    DOCUMENTS = "documents"  # the year-end minutes and award proposal
    REMIND = "remind"
    CLOSE_YEAR = "close_year"
    LINK_GROUP = "link_group"
    HANDOVER = "handover"
    MANAGE_INVITES = "manage_invites"


class AccessRole(enum.StrEnum):
    OFFICER = "officer"
    VICE_CHAIR = "vice_chair"
    CHAIR = "chair"
    ADMIN = "admin"


_OFFICER = frozenset({Permission.REPORT, Permission.VIEW_PROGRESS, Permission.VIEW_LEADERBOARD})
# The vice-chair stands in for the chair (DOMAIN.md) in the year's work; handing the chair
# over, linking the group and inviting units stay with the chair and the admins.
_VICE_CHAIR = _OFFICER | {
    Permission.VIEW_SUMMARY,
    Permission.REVIEW,
    Permission.EXPORT,
    Permission.DOCUMENTS,
    Permission.REMIND,
    Permission.CLOSE_YEAR,
}
_CHAIR = _VICE_CHAIR | {Permission.LINK_GROUP, Permission.HANDOVER, Permission.MANAGE_INVITES}

ROLE_PERMISSIONS: dict[AccessRole, frozenset[Permission]] = {
    AccessRole.OFFICER: _OFFICER,
    AccessRole.VICE_CHAIR: _VICE_CHAIR,
    AccessRole.CHAIR: _CHAIR,
    AccessRole.ADMIN: frozenset(Permission),
}

_FROM_MEMBERSHIP = {
    Role.MEMBER: AccessRole.OFFICER,
    Role.VICE_CHAIR: AccessRole.VICE_CHAIR,
    Role.CHAIR: AccessRole.CHAIR,
}


@dataclass(frozen=True)
class Seat:
    """An officer's place: the unit they report for, in which cluster, with which role."""

    officer_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    cluster_id: int
    cluster_code: str
    cluster_name: str
    cluster_kind: str  # "cum" or "khoi": the chair is a Cụm trưởng or a Khối trưởng
    year: int | None
    role: Role | None  # None: the unit is not a member in the cluster's working year


@dataclass(frozen=True)
class Actor:
    address: Address  # the channel identity this update came from
    user_id: int | None
    language: str | None
    is_admin: bool
    seat: Seat | None
    # False once the channel refused a message to them (they blocked the bot).
    reachable: bool = True

    @property
    def audit_name(self) -> str:
        """Who did it, in the audit log: the channel identity ("telegram:123")."""
        return str(self.address)

    def role_in(self, cluster_id: int) -> AccessRole | None:
        if self.is_admin:
            return AccessRole.ADMIN
        if self.seat is None or self.seat.cluster_id != cluster_id or self.seat.role is None:
            return None
        return _FROM_MEMBERSHIP[self.seat.role]

    def can(self, permission: Permission, cluster_id: int) -> bool:
        role = self.role_in(cluster_id)
        return role is not None and permission in ROLE_PERMISSIONS[role]

    def permissions(self) -> frozenset[Permission]:
        """Everything this person may do in their own cluster (all of it, for an admin)."""
        if self.is_admin:
            return ROLE_PERMISSIONS[AccessRole.ADMIN]
        if self.seat is None:
            return frozenset()
        role = self.role_in(self.seat.cluster_id)
        return ROLE_PERMISSIONS[role] if role else frozenset()

    def require(self, permission: Permission, cluster_id: int) -> None:
        """Raise a PermissionDenied that says why, unless the actor may do this."""
        if self.can(permission, cluster_id):
            return
        if self.seat is None:
            raise PermissionDenied("error.not_registered")
        if self.seat.cluster_id != cluster_id:
            raise PermissionDenied("error.other_cluster")
        if self.seat.role is None:
            raise PermissionDenied("error.unit_not_member", unit=self.seat.unit_name)
        raise PermissionDenied(
            "error.forbidden", permission=permission.value, holders=lowest_holder(permission).value
        )


def lowest_holder(permission: Permission) -> AccessRole:
    """The least role that has the permission (for telling a refused user who may)."""
    return next(role for role in AccessRole if permission in ROLE_PERMISSIONS[role])


def _seat_query(by_address: bool, with_key: bool) -> Select[Any]:
    """One row: the person (by channel identity, or by user id), their active seat with the
    unit's role in the cluster's working year, that year's row, and whether the update was
    handled before. Every join is outer, so a stranger still gets their row. Built once per
    shape, with bound parameters: building it costs more than running it."""
    # Core columns, not ORM entities: the row is read as plain values, and the ORM's own
    # compiling and loading would double the cost of the update's one read.
    users, identities, officers = User.__table__.c, Identity.__table__.c, Officer.__table__.c
    units, clusters, memberships = Unit.__table__.c, Cluster.__table__.c, Membership.__table__.c
    years_table = cast(Table, ClusterYear.__table__)
    years, pick = years_table.c, years_table.alias("working").c
    officer_pick = (
        select(officers.id)
        .where(officers.user_id == users.id, officers.active.is_(True))
        .order_by(officers.joined_at.desc(), officers.id.desc())
        .limit(1)
        .correlate(User.__table__)
        .scalar_subquery()
    )
    # The working year: the latest open one, else the latest (clusters.current_year).
    year_pick = (
        select(pick.id)
        .where(pick.cluster_id == clusters.id)
        .order_by((pick.status == YearStatus.OPEN).desc(), pick.year.desc())
        .limit(1)
        .correlate(Cluster.__table__)
        .scalar_subquery()
    )
    seen: Any = literal(False)
    if with_key:
        seen = exists().where(ProcessedUpdate.__table__.c.key == bindparam("key"))
    anchor = select(literal(1).label("one")).subquery("anchor")
    query = select(
        seen.label("seen"),
        users.id.label("user_id"),
        users.language,
        identities.reachable,
        officers.id.label("officer_id"),
        units.id.label("unit_id"),
        units.code.label("unit_code"),
        units.name.label("unit_name"),
        clusters.id.label("cluster_id"),
        clusters.code.label("cluster_code"),
        clusters.name.label("cluster_name"),
        clusters.kind.label("cluster_kind"),
        clusters.timezone,
        years.id.label("year_id"),
        years.year,
        years.status,
        years.late_lock_days,
        years.revision,
        memberships.role,
    ).select_from(anchor)
    if by_address:
        query = query.outerjoin(
            Identity.__table__,
            and_(
                identities.channel == bindparam("channel"),
                identities.external_id == bindparam("external_id"),
            ),
        ).outerjoin(User.__table__, users.id == identities.user_id)
    else:
        query = query.outerjoin(User.__table__, users.id == bindparam("user_id")).outerjoin(
            Identity.__table__, false()
        )
    return (
        query.outerjoin(Officer.__table__, officers.id == officer_pick)
        .outerjoin(Unit.__table__, units.id == officers.unit_id)
        .outerjoin(Cluster.__table__, clusters.id == officers.cluster_id)
        .outerjoin(years_table, years.id == year_pick)
        .outerjoin(
            Membership.__table__,
            and_(
                memberships.cluster_id == clusters.id,
                memberships.year == years.year,
                memberships.unit_id == units.id,
            ),
        )
    )


_BY_USER = _seat_query(by_address=False, with_key=False)
_BY_ADDRESS = _seat_query(by_address=True, with_key=False)
_BY_ADDRESS_AND_KEY = _seat_query(by_address=True, with_key=True)


def _seat(session: AsyncSession, row: Row[Any]) -> Seat | None:
    if row.officer_id is None:
        return None
    if row.year_id is not None:
        # The services of this update take the year from here rather than read it again.
        cache.remember(
            session,
            cache.Year(
                cluster_id=row.cluster_id,
                cluster_code=row.cluster_code,
                cluster_kind=row.cluster_kind.value,
                timezone=row.timezone,
                year_id=row.year_id,
                year=row.year,
                status=row.status,
                late_lock_days=row.late_lock_days,
                revision=row.revision,
            ),
        )
    return Seat(
        officer_id=row.officer_id,
        unit_id=row.unit_id,
        unit_code=row.unit_code,
        unit_name=row.unit_name,
        cluster_id=row.cluster_id,
        cluster_code=row.cluster_code,
        cluster_name=row.cluster_name,
        cluster_kind=row.cluster_kind.value,
        year=row.year,
        role=row.role,
    )


async def active_seat(session: AsyncSession, user_id: int) -> Seat | None:
    """The user's active officer seat with the unit's role in the cluster's working year."""
    row = (await session.execute(_BY_USER, {"user_id": user_id})).one()
    return _seat(session, row)


async def resolve_actor(session: AsyncSession, address: Address, admins: frozenset[str]) -> Actor:
    """Who is talking: admin flag from settings (addresses), seat and role from the
    database."""
    actor, _ = await resolve_update(session, address, admins, None)
    return actor


async def resolve_update(
    session: AsyncSession, address: Address, admins: frozenset[str], update_key: str | None
) -> tuple[Actor, bool]:
    """Who is talking, and whether this update (by its key) was handled before: one query,
    the first of every update."""
    params = {"channel": address.channel, "external_id": address.id}
    if update_key is None:
        row = (await session.execute(_BY_ADDRESS, params)).one()
    else:
        row = (await session.execute(_BY_ADDRESS_AND_KEY, {**params, "key": update_key})).one()
    actor = Actor(
        address=address,
        user_id=row.user_id,
        language=row.language,
        is_admin=str(address) in admins,
        seat=_seat(session, row) if row.user_id is not None else None,
        reachable=True if row.reachable is None else bool(row.reachable),
    )
    return actor, bool(row.seen)

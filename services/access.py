"""Who may do what. Roles are decided here, never in a handler, so every channel enforces
the same matrix."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, Identity, Membership, Officer, Role, Unit, User
from services.addresses import Address
from services.clusters import current_year
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


async def active_seat(session: AsyncSession, user_id: int) -> Seat | None:
    """The user's active officer seat with the unit's role in the cluster's working year."""
    row = (
        await session.execute(
            select(Officer, Unit, Cluster)
            .join(Unit, Unit.id == Officer.unit_id)
            .join(Cluster, Cluster.id == Officer.cluster_id)
            .where(Officer.user_id == user_id, Officer.active.is_(True))
            .order_by(Officer.joined_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    officer, unit, cluster = row
    year = await current_year(session, cluster.id)
    role = None
    if year is not None:
        role = await session.scalar(
            select(Membership.role).where(
                Membership.cluster_id == cluster.id,
                Membership.year == year.year,
                Membership.unit_id == unit.id,
            )
        )
    return Seat(
        officer_id=officer.id,
        unit_id=unit.id,
        unit_code=unit.code,
        unit_name=unit.name,
        cluster_id=cluster.id,
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        year=year.year if year else None,
        role=role,
    )


async def resolve_actor(session: AsyncSession, address: Address, admins: frozenset[str]) -> Actor:
    """Who is talking: admin flag from settings (addresses), seat and role from the
    database."""
    row = (
        await session.execute(
            select(User, Identity.reachable)
            .join(Identity, Identity.user_id == User.id)
            .where(Identity.channel == address.channel, Identity.external_id == address.id)
        )
    ).first()
    user, reachable = (row[0], row[1]) if row else (None, True)
    seat = await active_seat(session, user.id) if user else None
    return Actor(
        address=address,
        user_id=user.id if user else None,
        language=user.language if user else None,
        is_admin=str(address) in admins,
        seat=seat,
        reachable=reachable,
    )

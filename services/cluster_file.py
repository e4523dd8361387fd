"""The cluster file: one TOML file that defines a cluster, its units, its years and criteria.

Parsing and validation only; `services.clusters.import_cluster` writes it to the database.
The format is documented in docs/cluster-file.md.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.tables import Cadence, ClusterKind, ClusterYear, CriterionKind

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Criterion codes are what officers type in `/report 1.2 …`: digits (or letters) and dots.
CRITERION_CODE_RE = re.compile(r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_RE.pattern)]
NonNegative = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ClusterFileError(Exception):
    """A cluster file that cannot be used; the message names the line or the key."""


class _Spec(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock(value: str) -> str:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a time of day like 08:00") from None
    return parsed.strftime("%H:%M")


class ClusterSpec(_Spec):
    code: Code
    name: str = Field(min_length=1, max_length=255)
    kind: ClusterKind = ClusterKind.CUM
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class UnitSpec(_Spec):
    code: Code
    name: str = Field(min_length=1, max_length=255)
    short_name: str | None = Field(default=None, max_length=80)
    valid_from: date | None = None
    valid_to: date | None = None
    successor: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    @property
    def label(self) -> str:
        return self.short_name or self.name


class PeriodRule(_Spec):
    cadence: Cadence = Cadence.QUARTERLY
    # The deadline is this day of the month after the period ends, at deadline_time.
    deadline_day: int = Field(default=5, ge=1, le=28)
    deadline_time: str = "17:00"
    # Reports later than this many days after the deadline are refused; 0 never locks.
    late_lock_days: int = Field(default=0, ge=0, le=366)

    _time = field_validator("deadline_time")(classmethod(lambda cls, v: _clock(v)))


class ReminderRule(_Spec):
    before_days: list[Annotated[int, Field(ge=0, le=60)]] = Field(default_factory=lambda: [7, 3, 1])
    at: str = "08:00"
    overdue_days: int = Field(default=3, ge=0, le=60)
    escalate_after_days: int = Field(default=1, ge=0, le=60)

    _time = field_validator("at")(classmethod(lambda cls, v: _clock(v)))


class LeaderboardRule(_Spec):
    enabled: bool = True
    weekday: str = "monday"
    at: str = "08:00"
    # A cluster with no group chat: "zalo" sends the weekly board privately to each officer
    # reached on Zalo (where bots have no groups yet), "officers" to every officer on any
    # channel, "nobody" skips it.
    without_group: Literal["zalo", "officers", "nobody"] = "zalo"

    _time = field_validator("at")(classmethod(lambda cls, v: _clock(v)))

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
        return value.lower()


class RatingLevel(_Spec):
    code: Literal["excellent", "good", "completed", "not_completed"]
    min_total: NonNegative
    # Every scored criterion must reach this share of its maximum (0.85 = 85 %).
    min_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)


def _default_levels() -> list[RatingLevel]:
    # One 2025 draft's thresholds (DOMAIN.md); clusters set their own.
    return [
        RatingLevel(code="excellent", min_total=Decimal(90), min_share=Decimal("0.85")),
        RatingLevel(code="good", min_total=Decimal(80), min_share=Decimal("0.8")),
        RatingLevel(code="completed", min_total=Decimal(70), min_share=Decimal("0.7")),
    ]


class RatingRule(_Spec):
    levels: list[RatingLevel] = Field(default_factory=_default_levels)
    # How equal totals rank: "shared" gives them one rank; "ballot" leaves the order to the
    # secret ballot (they still share the rank until it is recorded).
    tie_rule: Literal["shared", "ballot"] = "shared"

    @model_validator(mode="after")
    def _descending(self) -> Self:
        totals = [level.min_total for level in self.levels]
        if totals != sorted(totals, reverse=True):
            raise ValueError("levels must go from the highest min_total down")
        return self


class BallotRule(_Spec):
    """`[years.ballot]`: the secret ballot (bỏ phiếu kín) of the year-end meeting."""

    # How many units each member unit may choose, at most.
    choices: int = Field(default=1, ge=1, le=20)
    # The share of ALL member units' votes a unit needs (many operating rules: 70 %).
    threshold: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.7")
    # Whether a unit may vote for itself.
    self_vote: bool = False
    # Hours from opening to closing, unless the chair gives a time.
    hours: int = Field(default=48, ge=1, le=24 * 30)
    # The candidates by default: the units rated at least this, by verified rank.
    candidates: Literal["excellent", "good", "completed", "all"] = "excellent"
    # Hours before the close at which the officers of units that have not voted are
    # reminded (a time before the ballot opened is dropped).
    remind_before_hours: list[Annotated[int, Field(ge=1, le=24 * 30)]] = Field(
        default_factory=lambda: [24, 2]
    )


class MidyearRule(_Spec):
    """`[years.midyear]`: the mid-year review (sơ kết 6 tháng, /soket)."""

    # Sent on its own to the chair's and vice-chair's officers after the H1 deadline.
    enabled: bool = True
    # The review covers the periods that end by the end of this month (6: sơ kết 6 tháng).
    month: int = Field(default=6, ge=1, le=11)
    # Quantitative criteria whose value is a rate or a level ("tỷ lệ … đúng hạn"), not an
    # amount that grows from January: their targets are not pro-rated, values not projected.
    rates: list[str] = Field(default_factory=list)


class YearSettings(_Spec):
    """What a cluster year keeps in `ClusterYear.settings`: the file's reminder, leaderboard
    and rating sections. The import writes it and every reader validates it back with these
    same models, so a default lives here only."""

    reminders: ReminderRule = Field(default_factory=ReminderRule)
    leaderboard: LeaderboardRule = Field(default_factory=LeaderboardRule)
    rating: RatingRule = Field(default_factory=RatingRule)
    ballot: BallotRule = Field(default_factory=BallotRule)
    midyear: MidyearRule = Field(default_factory=MidyearRule)


def year_settings(year: ClusterYear) -> YearSettings:
    """A cluster year's settings, validated (and cached by content: rows may be edited)."""
    return settings_of(year.settings)


def settings_of(settings: dict[str, Any] | str) -> YearSettings:
    """`year_settings` of a `ClusterYear.settings` value read as a column, or as its JSON
    text (a statement that returns it on many rows decodes it once)."""
    if isinstance(settings, str):
        return _settings(settings)
    return _settings(json.dumps(settings, sort_keys=True, default=str))


@functools.lru_cache(maxsize=512)
def _settings(canonical: str) -> YearSettings:
    # Keyed by the JSON text, not the row: a planning run over 1,000 clusters validates each
    # distinct settings once, and a changed row is never served its old settings.
    return YearSettings.model_validate(json.loads(canonical))


LEAF_KINDS = {k for k in CriterionKind if k is not CriterionKind.GROUP}


class CriterionSpec(_Spec):
    code: str = Field(min_length=1, max_length=20, pattern=CRITERION_CODE_RE.pattern)
    name: str = Field(min_length=1)
    kind: CriterionKind
    max_points: NonNegative | None = None
    points_each: NonNegative | None = None
    target: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)] | None = None
    # Per-unit targets, by unit code; units not listed use `target`.
    targets: dict[str, Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)]] = Field(
        default_factory=dict
    )
    measure_unit: str | None = Field(default=None, max_length=40)
    evidence_required: bool = False
    scale_to_best: bool = False

    @property
    def parent_code(self) -> str | None:
        head, dot, _ = self.code.rpartition(".")
        return head if dot else None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        kind = self.kind
        if kind is CriterionKind.GROUP:
            extra = [
                name
                for name in ("max_points", "points_each", "target", "measure_unit")
                if getattr(self, name) is not None
            ]
            extra += [
                name for name in ("evidence_required", "scale_to_best") if getattr(self, name)
            ]
            if self.targets:
                extra.append("targets")
            if extra:
                raise ValueError(
                    f"a group is scored by the sum of its children; remove {', '.join(extra)}"
                )
            return self
        if self.max_points is None:
            raise ValueError(f"a {kind.value} criterion needs max_points")
        if kind is CriterionKind.COUNT and self.points_each is None:
            raise ValueError("a count criterion needs points_each")
        if kind is CriterionKind.QUANTITATIVE and self.target is None and not self.targets:
            raise ValueError("a quantitative criterion needs target (or targets per unit)")
        if kind is not CriterionKind.QUANTITATIVE and (self.target is not None or self.targets):
            raise ValueError("only quantitative criteria have targets")
        if self.points_each is not None and kind not in (
            CriterionKind.COUNT,
            CriterionKind.BONUS,
            CriterionKind.PENALTY,
        ):
            raise ValueError("points_each applies to count, bonus and penalty criteria only")
        if self.scale_to_best and kind is not CriterionKind.QUANTITATIVE:
            raise ValueError("scale_to_best applies to quantitative criteria only")
        return self


class YearSpec(_Spec):
    year: int = Field(ge=2000, le=2100)
    status: Literal["open", "closed"] = "open"
    chair: str
    vice_chair: str | None = None
    decision: str | None = Field(default=None, max_length=255)
    # Unit codes taking part this year; empty means every unit valid during the year.
    members: list[str] = Field(default_factory=list)
    pledge_signed_on: date | None = None
    periods: PeriodRule = Field(default_factory=PeriodRule)
    reminders: ReminderRule = Field(default_factory=ReminderRule)
    leaderboard: LeaderboardRule = Field(default_factory=LeaderboardRule)
    rating: RatingRule = Field(default_factory=RatingRule)
    ballot: BallotRule = Field(default_factory=BallotRule)
    midyear: MidyearRule = Field(default_factory=MidyearRule)
    criteria: list[CriterionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tree(self) -> Self:
        seen: dict[str, CriterionSpec] = {}
        for index, criterion in enumerate(self.criteria):
            where = f"criteria[{index}] (code {criterion.code!r})"
            if criterion.code in seen:
                raise ValueError(f"{where}: code used twice")
            parent = criterion.parent_code
            if parent is not None:
                if parent not in seen:
                    raise ValueError(f"{where}: its group {parent!r} must come before it")
                if seen[parent].kind is not CriterionKind.GROUP:
                    raise ValueError(f"{where}: {parent!r} is not a group")
            seen[criterion.code] = criterion
        for code in self.midyear.rates:
            found = seen.get(code)
            if found is None or found.kind is not CriterionKind.QUANTITATIVE:
                raise ValueError(f"midyear.rates: {code!r} is not a quantitative criterion")
        return self

    def settings(self) -> YearSettings:
        """The sections kept as the cluster year's `settings`."""
        return YearSettings(
            reminders=self.reminders,
            leaderboard=self.leaderboard,
            rating=self.rating,
            ballot=self.ballot,
            midyear=self.midyear,
        )

    def leaves(self) -> list[CriterionSpec]:
        return [c for c in self.criteria if c.kind is not CriterionKind.GROUP]

    def base_total(self) -> Decimal:
        """The table's total maximum, bonus and penalty aside (usually 100)."""
        return sum(
            (
                c.max_points or Decimal(0)
                for c in self.leaves()
                if c.kind not in (CriterionKind.BONUS, CriterionKind.PENALTY)
            ),
            Decimal(0),
        )


class ClusterFile(_Spec):
    cluster: ClusterSpec
    units: list[UnitSpec] = Field(min_length=1)
    years: list[YearSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        codes = [u.code for u in self.units]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"units: code used twice: {', '.join(dupes)}")
        known = set(codes)
        by_code = {u.code: u for u in self.units}
        for index, unit in enumerate(self.units):
            if unit.successor is None:
                continue
            if unit.successor not in known:
                raise ValueError(f"units[{index}].successor: unknown unit {unit.successor!r}")
            if unit.successor == unit.code:
                raise ValueError(f"units[{index}].successor: a unit cannot succeed itself")
            if unit.valid_to is None:
                raise ValueError(f"units[{index}]: a unit with a successor needs valid_to")
        years = [y.year for y in self.years]
        if len(years) != len(set(years)):
            raise ValueError("years: a year is listed twice")
        for index, year in enumerate(self.years):
            where = f"years[{index}] ({year.year})"
            members = self.members_of(year)
            for name, code in (("chair", year.chair), ("vice_chair", year.vice_chair)):
                if code is not None and code not in members:
                    raise ValueError(f"{where}.{name}: {code!r} is not a member unit that year")
            if year.vice_chair is not None and year.vice_chair == year.chair:
                raise ValueError(f"{where}: chair and vice_chair must be different units")
            for code in year.members:
                if code not in known:
                    raise ValueError(f"{where}.members: unknown unit {code!r}")
                unit = by_code[code]
                if (unit.valid_from and unit.valid_from > date(year.year, 12, 31)) or (
                    unit.valid_to and unit.valid_to < date(year.year, 1, 1)
                ):
                    raise ValueError(f"{where}.members: {code!r} does not exist during {year.year}")
            for c_index, criterion in enumerate(year.criteria):
                place = f"{where}.criteria[{c_index}] (code {criterion.code!r})"
                for code in criterion.targets:
                    if code not in members:
                        raise ValueError(f"{place}.targets: {code!r} is not a member that year")
                if criterion.kind is CriterionKind.QUANTITATIVE and criterion.target is None:
                    missing = [code for code in members if code not in criterion.targets]
                    if missing:
                        raise ValueError(
                            f"{place}.targets: no target for {', '.join(missing)} "
                            "(give them one, or set a common target)"
                        )
        return self

    def members_of(self, year: YearSpec) -> list[str]:
        if year.members:
            return list(year.members)
        start, end = date(year.year, 1, 1), date(year.year, 12, 31)
        return [
            u.code
            for u in self.units
            if (u.valid_from is None or u.valid_from <= end)
            and (u.valid_to is None or u.valid_to >= start)
        ]

    def warnings(self) -> list[Notice]:
        """Things that are allowed but usually a mistake, for the importer to print."""
        notes = []
        for year in self.years:
            total = year.base_total()
            if year.criteria and total != 100:
                notes.append(Notice("import.note.maxima", {"year": year.year, "total": total}))
        return notes


@dataclass(frozen=True)
class Notice:
    """Something allowed but worth telling the importer, as a catalogue key and its
    parameters: services never word it, so the CLI says it in the settings' language."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def parse_cluster_text(text: str, source: str = "<cluster file>") -> ClusterFile:
    """Parse and validate; errors name the line (syntax) or the key path (content)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClusterFileError(f"{source}: not valid TOML: {exc}") from None
    try:
        return ClusterFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (see docs/cluster-file.md)"
            loc = tuple(error["loc"])
            # Whole-file checks already name their place in the message.
            where = f"{source}: {_location(loc)}" if loc else source
            lines.append(f"{where}: {message}")
        raise ClusterFileError("\n".join(lines)) from None


def load_cluster_file(path: Path) -> ClusterFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClusterFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ClusterFileError(f"{path}: not UTF-8 text") from None
    return parse_cluster_text(text, str(path))

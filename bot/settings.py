"""Settings: one TOML file, every key overridable by a THIDUA_… environment variable.

The tokens are only ever read from the environment (THIDUA_TELEGRAM__TOKEN,
THIDUA_ZALO__TOKEN) and held as SecretStr, so they never land in a committed file or a
log line.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from services.addresses import Address
from services.errors import DomainError

DEFAULT_CONFIG = Path("config.toml")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LANGUAGES = ("vi", "en")


class SettingsError(Exception):
    """A wrong or missing setting; the message is one line naming the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///thidua.db"
    # Run Alembic migrations to head when the bot starts (one-machine installs).
    migrate_on_start: bool = True

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return value


class TelegramSettings(_Section):
    token: SecretStr | None = None
    # Another Bot API server, e.g. a local telegram-bot-api or a test emulator.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # Used for invite links; when empty the CLI asks Telegram (getMe) for it.
    bot_username: str = ""
    # Webhook mode (`thidua run --webhook`); the CLI options override these.
    # The public HTTPS URL Telegram posts updates to (given to setWebhook at start-up).
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_path: str = "/telegram"
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; environment only, like the token.
    webhook_secret: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("does not look like a bot token from @BotFather (<digits>:<secret>)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        if value is not None and not _SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters: letters A-Z a-z, digits, _ and -")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Telegram only posts to HTTPS)")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/healthz":
            raise ValueError("must start with / and must not be /healthz")
        return value


class ZaloSettings(_Section):
    """The Zalo Bot Platform channel (docs/zalo.md). Served when the token is set."""

    token: SecretStr | None = None
    # The Bot API base; tests point it at the stand-in server (tests/zalo/standin.py).
    base_url: str = "https://bot-api.zaloplatforms.com"
    # What officers search for in Zalo, and the bot's zalo.me link (for the invitation's QR).
    bot_name: str = ""
    bot_link: str = ""
    # Webhook: the public HTTPS URL Zalo posts to; without it the bot long-polls getUpdates.
    webhook_url: str = ""
    webhook_path: str = "/zalo"
    # Sent back by Zalo in X-Bot-Api-Secret-Token (8-256 characters); environment only.
    webhook_secret: SecretStr | None = None
    # Where Zalo fetches the pictures and files we send (charts, workbooks): the public
    # origin of our HTTP server; default: the webhook URL's origin.
    public_url: str = ""
    # Our HTTP server (media, and the webhook when Telegram's webhook server does not run).
    listen: str = "127.0.0.1"
    port: int = Field(default=8444, ge=1, le=65535)
    media_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Zalo publishes no rate limits: our own, conservative; a 429 still pauses the batch.
    per_second: float = Field(default=10.0, gt=0, le=100)
    private_gap: float = Field(default=1.0, ge=0, le=60)
    poll_timeout: int = Field(default=30, ge=1, le=120)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("does not look like a Zalo bot token (<bot_id>:<secret>)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("must be 8-256 characters (Zalo's rule for secret_token)")
        return value

    @field_validator("webhook_url", "public_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https:// URL (Zalo fetches and posts over HTTPS)")
        return value.rstrip("/")

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value in ("/healthz", "/media"):
            raise ValueError("must start with / and must not be /healthz or /media")
        return value

    def media_base(self) -> str:
        """The public origin media URLs start with."""
        if self.public_url:
            return self.public_url
        if self.webhook_url:
            scheme, rest = self.webhook_url.split("://", 1)
            return f"{scheme}://{rest.split('/', 1)[0]}"
        return f"http://{self.listen}:{self.port}"


class AppSettings(_Section):
    timezone: str = "Asia/Ho_Chi_Minh"
    language: str = "vi"
    # People with every right on every cluster (the secretariat's operators): channel
    # addresses such as "telegram:123456" or "zalo:abc"; a bare number is a Telegram id.
    admins: list[int | str] = Field(default_factory=list)
    storage_dir: Path = Path("storage")
    invite_days: int = Field(default=14, ge=1, le=365)
    log_level: str = "INFO"

    @field_validator("admins")
    @classmethod
    def _admin_addresses(cls, value: list[int | str]) -> list[int | str]:
        for entry in value:
            try:
                Address.parse(str(entry))
            except DomainError:
                raise ValueError(
                    f"{entry!r} is not an address (telegram:<id>, zalo:<id> or a Telegram id)"
                ) from None
        return value

    def admin_addresses(self) -> frozenset[str]:
        return frozenset(str(Address.parse(str(entry))) for entry in self.admins)

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Settings(BaseModel):
    # validate_default: as pydantic-settings' BaseSettings did, which this class was.
    model_config = ConfigDict(extra="forbid", validate_default=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    zalo: ZaloSettings = Field(default_factory=ZaloSettings)
    app: AppSettings = Field(default_factory=AppSettings)


# --- where the values come from: keyword overrides, then THIDUA_… variables, then the file
#
# This was pydantic-settings (BaseSettings, env_prefix THIDUA_, nested delimiter __, a TOML
# source), and reads the environment exactly as it did, down to the error texts; validation
# is still pydantic's. Written out because that library cost the running bot ~1.2 MB
# (3.3 MB imported alone) and ~25 ms at every start: it imports dotenv and its CLI and
# cloud secret sources with it, for the few lines below (docs/performance.md).

ENV_PREFIX = "thidua_"
NESTED = "__"
_JSON_ORIGINS = (list, dict, set, frozenset, tuple)


class _NotJson(Exception):
    """A section or a list in the environment that does not parse as JSON."""

    def __init__(self, variable: str) -> None:
        super().__init__(variable)
        self.variable = variable.upper()


def _is_json(annotation: Any) -> bool:
    """Whether a variable for this field is JSON (a table or a list), not plain text."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = get_origin(annotation)
    return annotation in _JSON_ORIGINS or (
        isinstance(origin, type) and issubclass(origin, _JSON_ORIGINS)
    )


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):  # e.g. `Section | None`
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _field(model: type[BaseModel] | None, name: str) -> Any:
    """The annotation of `model`'s field `name` (matched without regard to case), or None."""
    if model is None:
        return None
    for field, info in model.model_fields.items():
        if field.lower() == name:
            return info.annotation
    return None


def _nested(section: str, model: type[BaseModel], env: dict[str, str]) -> dict[str, Any]:
    """THIDUA_APP__LANGUAGE=en and its kind as {"language": "en"}; a list is JSON."""
    found: dict[str, Any] = {}
    head = f"{ENV_PREFIX}{section}{NESTED}"
    for name, text in env.items():
        if not name.startswith(head):
            continue
        *path, last = name[len(head) :].split(NESTED)
        into: Any = found
        owner: type[BaseModel] | None = model
        for part in path:
            owner = _section_model(_field(owner, part))
            if isinstance(into, dict):
                into = into.setdefault(part, {})
        value: Any = text
        annotation = _field(owner, last)
        if annotation is not None and text and _is_json(annotation):
            try:
                value = json.loads(text)
            except ValueError:
                raise _NotJson(name) from None
        if isinstance(into, dict):
            into[last] = value
    return found


def _environment() -> dict[str, Any]:
    """The THIDUA_… variables, names without regard to case: a section as JSON
    (THIDUA_APP='{"language": "en"}') or key by key (THIDUA_APP__LANGUAGE=en, which wins)."""
    env = {name.lower(): value for name, value in os.environ.items()}
    values: dict[str, Any] = {}
    for section, info in Settings.model_fields.items():
        model = _section_model(info.annotation)
        assert model is not None, section  # every top-level field is a section
        nested = _nested(section, model, env)
        whole = env.get(ENV_PREFIX + section)
        if whole is None:
            if nested:
                values[section] = nested
            continue
        try:
            value = json.loads(whole)
        except ValueError:
            raise _NotJson(ENV_PREFIX + section) from None
        values[section] = _merge(value, nested) if isinstance(value, dict) else value
    return values


def _sections(values: dict[str, Any]) -> dict[str, Any]:
    """A file's or the caller's top-level keys, a section's name matched without regard to
    case ([APP] is [app]); anything else is left for validation to refuse."""
    names = {field.lower(): field for field in Settings.model_fields}
    return {names.get(key.lower(), key): value for key, value in values.items()}


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """`high` over `low`, table by table."""
    merged = dict(low)
    for key, value in high.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            merged[key] = _merge(below, value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(file)"
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (check its spelling against config.example.toml)"
    more = len(error.errors()) - 1
    suffix = f" (+{more} more)" if more else ""
    return f"{key}: {message}{suffix}"


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (THIDUA_CONFIG, default ./config.toml) and the environment.

    A missing default file is fine (all keys have defaults); a missing file that was named
    explicitly, a malformed file or a bad value raises SettingsError with one line.
    """
    from_env = config_path is None and "THIDUA_CONFIG" in os.environ
    named = config_path or (Path(os.environ["THIDUA_CONFIG"]) if from_env else None)
    origin = "THIDUA_CONFIG" if from_env else "config"
    path = named or DEFAULT_CONFIG
    if named is not None and not path.is_file():
        raise SettingsError(f"{origin}: file not found (or not a file): {path}")
    path_or_none = path if path.is_file() else None
    from_file: dict[str, Any] = {}
    if path_or_none is not None:
        try:
            from_file = tomllib.loads(path_or_none.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise SettingsError(f"{path}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
        telegram = from_file.get("telegram", {})
        if not isinstance(telegram, dict):
            raise SettingsError(f"{path}: telegram: must be a table ([telegram])")
        if "token" in telegram:
            raise SettingsError(
                f"{path}: telegram.token: keep the token out of files; "
                "set the environment variable THIDUA_TELEGRAM__TOKEN instead"
            )
        if "webhook_secret" in telegram:
            raise SettingsError(
                f"{path}: telegram.webhook_secret: keep secrets out of files; "
                "set the environment variable THIDUA_TELEGRAM__WEBHOOK_SECRET instead"
            )
    # Where a bad value may have come from: the file (if any) and the environment.
    where = f"{path} / environment" if path_or_none else "environment"
    try:
        environment = _environment()
    except _NotJson as exc:
        # e.g. THIDUA_APP__ADMINS=1,2 (a list must be JSON: [1, 2])
        raise SettingsError(
            f"environment: {exc.variable}: not valid JSON (lists and tables must be JSON, "
            'e.g. [1, 2] or {"language": "en"})'
        ) from None
    values = _merge(_merge(_sections(from_file), environment), _sections(overrides))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(f"{where}: {_describe(exc)}") from None

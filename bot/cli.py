"""The `thidua` command line: run the bot, migrate, import clusters, print invitations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from telegram import Bot, Update

from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from handlers.i18n import Texts, texts
from models.db import create_engine, session_factory
from models.migrate import current_revision, upgrade
from services import clusters, invites
from services.cluster_file import ClusterFileError, load_cluster_file
from services.errors import DomainError
from services.uow import Session

T = TypeVar("T")

app = typer.Typer(
    help="Thi Đua Bot — quản lý Cụm/Khối thi đua qua Telegram (emulation clusters on Telegram).",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold the token or database password: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)
cluster_app = typer.Typer(help="Cụm thi đua: nhập tệp, liệt kê (clusters: import, list).")
db_app = typer.Typer(help="Cơ sở dữ liệu (database).")
app.add_typer(cluster_app, name="cluster")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML settings file (default: $THIDUA_CONFIG or ./config.toml)"
    ),
]


class _State:
    config: Path | None = None


@app.callback()
def _main(config: ConfigOption = None) -> None:
    _State.config = config


def _settings() -> Settings:
    try:
        return load_settings(_State.config)
    except SettingsError as exc:
        typer.echo(texts(None).plain("cli.settings_error", detail=str(exc)), err=True)
        raise typer.Exit(2) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _with_session(settings: Settings, work: Callable[[Session], Awaitable[T]]) -> T:
    """Run one unit of work against the configured database, migrating it first if allowed."""

    async def runner() -> T:
        engine = create_engine(settings.database.url)
        try:
            if settings.database.migrate_on_start:
                await upgrade(engine)
            async with session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def _fail(t: Texts, err: DomainError) -> typer.Exit:
    typer.echo(t.text(err.key, **err.params), err=True)
    return typer.Exit(1)


@app.command()
def run() -> None:
    """Chạy bot (polling). Start the bot."""
    settings = _settings()
    setup_logging(settings.app.log_level, settings.telegram.token)
    t = texts(settings.app.language)
    if settings.telegram.token is None:
        typer.echo(t.plain("cli.no_token"), err=True)
        raise typer.Exit(2)
    from bot.app import build_application  # heavy import, only when running

    application = build_application(settings)
    application.run_polling(allowed_updates=Update.ALL_TYPES)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Nâng cấp CSDL lên phiên bản mới nhất. Migrate the database to the latest revision."""
    settings = _settings()
    t = texts(settings.app.language)

    async def runner() -> str | None:
        engine = create_engine(settings.database.url)
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    typer.echo(t.plain("cli.db_upgraded", revision=asyncio.run(runner())))


@cluster_app.command("import")
def cluster_import(
    file: Annotated[Path, typer.Argument(help="Cluster file (.toml), see docs/cluster-file.md")],
) -> None:
    """Nhập hoặc cập nhật một Cụm từ tệp. Create or update a cluster from its file."""
    settings = _settings()
    t = texts(settings.app.language)
    try:
        spec = load_cluster_file(file)
    except ClusterFileError as exc:
        typer.echo(t.plain("cli.file_error", detail=str(exc)), err=True)
        raise typer.Exit(1) from None
    result = _with_session(
        settings, lambda s: clusters.import_cluster(s, spec, now=_now(), actor="cli")
    )
    for warning in result.warnings:
        typer.echo(t.plain("cli.warning", detail=warning))
    if not result.changed:
        typer.echo(t.plain("cli.import_unchanged", code=result.cluster_code))
        return
    typer.echo(t.plain("cli.import_created", code=result.cluster_code))
    kinds = sorted(set(result.created) | set(result.updated) | set(result.retired))
    for kind in kinds:
        typer.echo(
            t.plain(
                "cli.import_counts",
                what=kind,
                created=result.created[kind],
                updated=result.updated[kind],
                retired=result.retired[kind],
            )
        )


@cluster_app.command("list")
def cluster_list() -> None:
    """Liệt kê các Cụm. List the clusters."""
    settings = _settings()
    t = texts(settings.app.language)
    rows = _with_session(settings, clusters.list_clusters)
    if not rows:
        typer.echo(t.plain("cli.no_clusters"))
        return
    for row in rows:
        typer.echo(
            t.plain(
                "cli.cluster_line",
                code=row.code,
                name=row.name,
                kind=row.kind,
                year=row.current_year or "—",
                units=row.units,
                chair=row.chair or "—",
                group=t.plain("cli.yes") if row.group_linked else t.plain("cli.no"),
            )
        )


def _bot_username(settings: Settings) -> str | None:
    if settings.telegram.bot_username:
        return settings.telegram.bot_username.lstrip("@")
    if settings.telegram.token is None:
        return None

    async def ask() -> str:
        bot = Bot(
            settings.telegram.token.get_secret_value() if settings.telegram.token else "",
            base_url=settings.telegram.base_url,
        )
        async with bot:
            return bot.username

    return asyncio.run(ask())


def deep_link(username: str, token: str) -> str:
    return f"https://t.me/{username}?start={token}"


@app.command()
def invite(
    cluster: Annotated[str, typer.Argument(help="Cluster code")],
    unit: Annotated[
        str | None, typer.Argument(help="Unit code (default: every member unit)")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Days the link stays valid")] = None,
    uses: Annotated[int | None, typer.Option(help="Officers who may join with one link")] = None,
) -> None:
    """In link mời cho từng đơn vị. Print an invitation link per unit."""
    settings = _settings()
    t = texts(settings.app.language)
    username = _bot_username(settings)
    if not username:
        typer.echo(t.plain("cli.no_username"), err=True)
        raise typer.Exit(2)
    try:
        issued = _with_session(
            settings,
            lambda s: invites.create_invites(
                s,
                cluster_code=cluster,
                unit_code=unit,
                now=_now(),
                days=days or settings.app.invite_days,
                max_uses=uses,
                actor="cli",
            ),
        )
    except DomainError as err:
        raise _fail(t, err) from None
    for item in issued:
        typer.echo(
            t.plain(
                "cli.invite_line",
                unit=item.unit_code,
                name=item.unit_name,
                link=deep_link(username, item.token),
                expires=t.datetime(item.expires_at, settings.app.tz),
                uses=t.plain("cli.invite_uses", uses=item.max_uses) if item.max_uses else "",
            )
        )


@app.command("revoke-invites")
def revoke_invites(
    cluster: Annotated[str, typer.Argument(help="Cluster code")],
    unit: Annotated[str | None, typer.Argument(help="Unit code (default: every unit)")] = None,
) -> None:
    """Thu hồi các link mời còn hiệu lực. Revoke the live invitation links."""
    settings = _settings()
    t = texts(settings.app.language)
    try:
        count = _with_session(
            settings,
            lambda s: invites.revoke_invites(
                s, cluster_code=cluster, unit_code=unit, now=_now(), actor="cli"
            ),
        )
    except DomainError as err:
        raise _fail(t, err) from None
    typer.echo(t.plain("cli.invites_revoked", count=count))


# ISSUE-5-CLI

# ISSUE-6-CLI


def main() -> None:
    app(prog_name="thidua")


if __name__ == "__main__":
    main()

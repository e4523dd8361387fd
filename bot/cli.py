"""The `thidua` command line: run the bot, migrate, import clusters, print invitations."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot import collector_paused, pause_collector, resume_collector

with collector_paused():  # what every command needs: bot/__init__.py says why
    from bot.logs import setup_logging
    from bot.settings import Settings, SettingsError, load_settings
    from handlers.i18n import Texts, texts
    from models.backup import BackupError, backup_name, backup_sqlite, prune_backups, sqlite_path
    from models.db import create_engine, session_factory
    from models.migrate import current_revision, upgrade
    from services import clusters, invites
    from services.cluster_file import ClusterFileError, load_cluster_file
    from services.errors import DomainError
    from services.uow import Session

T = TypeVar("T")


class Exit(Exception):
    """Leave the command with this exit code (its message, if any, is already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def echo(message: str, *, err: bool = False) -> None:
    print(message, file=sys.stderr if err else sys.stdout)


class _State:
    config: Path | None = None


def _settings() -> Settings:
    try:
        return load_settings(_State.config)
    except SettingsError as exc:
        echo(texts(None).plain("cli.settings_error", detail=str(exc)), err=True)
        raise Exit(2) from None


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


def _fail(t: Texts, err: DomainError) -> Exit:
    echo(t.text(err.key, **err.params), err=True)
    return Exit(1)


def try_(
    cluster_file: Path | None = None,
    who: str = "chair",
    at: str | None = None,
    configured: bool = False,
) -> None:
    """Thử bot trong cửa sổ dòng lệnh, không cần mạng. Chat with the bot in the terminal."""
    settings = _settings()
    setup_logging("WARNING", settings.telegram.token, settings.zalo.token)
    from bot.console.run import main, parse_moment  # imports the whole core: only when asked

    if at is not None:
        try:
            parse_moment(at, settings.app.tz)
        except ValueError:
            echo(texts(settings.app.language).text("try.bad_time", example=at), err=True)
            raise Exit(2) from None
    code = main(settings, cluster_file=cluster_file, who=who, at=at, configured_db=configured)
    raise Exit(code)


def run(
    webhook: bool = False,
    webhook_url: str | None = None,
    listen: str | None = None,
    port: int | None = None,
    url_path: str | None = None,
) -> None:
    """Chạy bot (polling, hoặc webhook với --webhook). Start the bot."""
    settings = _settings()
    setup_logging(settings.app.log_level, settings.telegram.token, settings.zalo.token)
    t = texts(settings.app.language)
    if settings.telegram.token is None and settings.zalo.token is None:
        echo(t.plain("cli.no_token"), err=True)
        raise Exit(2)
    options = (webhook_url, listen, port, url_path)
    if not webhook and any(o is not None for o in options):
        echo(t.plain("ops.webhook_options_alone"), err=True)
        raise Exit(2)
    if settings.telegram.token is None:
        # Zalo alone: its webhook (or long polling) is set by the zalo.* settings.
        if webhook:
            echo(t.plain("ops.webhook_needs_telegram"), err=True)
            raise Exit(2)
        from bot.zalo_service import run_zalo

        _check_zalo(settings, t)
        run_zalo(settings)
        return
    if webhook:
        _run_webhook(settings, t, url=webhook_url, listen=listen, port=port, path=url_path)
        return
    _check_zalo(settings, t)
    pause_collector()  # until the bot has started (bot/__init__.py)
    from bot.telegram.app import run_polling  # heavy import, only when running

    run_polling(settings)


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

    echo(t.plain("cli.db_upgraded", revision=asyncio.run(runner())))


def cluster_import(file: Path) -> None:
    """Nhập hoặc cập nhật một Cụm từ tệp. Create or update a cluster from its file."""
    settings = _settings()
    t = texts(settings.app.language)
    try:
        spec = load_cluster_file(file)
    except ClusterFileError as exc:
        echo(t.plain("cli.file_error", detail=str(exc)), err=True)
        raise Exit(1) from None
    result = _with_session(
        settings, lambda s: clusters.import_cluster(s, spec, now=_now(), actor="cli")
    )
    for warning in result.warnings:
        echo(t.plain("cli.warning", detail=t.plain(warning.key, **warning.params)))
    if not result.changed:
        echo(t.plain("cli.import_unchanged", code=result.cluster_code))
        return
    echo(t.plain("cli.import_created", code=result.cluster_code))
    kinds = sorted(set(result.created) | set(result.updated) | set(result.retired))
    for kind in kinds:
        echo(
            t.plain(
                "cli.import_counts",
                what=kind,
                created=result.created[kind],
                updated=result.updated[kind],
                retired=result.retired[kind],
            )
        )


def cluster_list() -> None:
    """Liệt kê các Cụm. List the clusters."""
    settings = _settings()
    t = texts(settings.app.language)
    rows = _with_session(settings, clusters.list_clusters)
    if not rows:
        echo(t.plain("cli.no_clusters"))
        return
    for row in rows:
        echo(
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

    from bot.telegram.app import ask_username

    return asyncio.run(ask_username(settings))


def deep_link(username: str, token: str) -> str:
    return f"https://t.me/{username}?start={token}"


def invite(
    cluster: str,
    unit: str | None = None,
    days: int | None = None,
    uses: int | None = None,
    qr_dir: Path = Path("."),
) -> None:
    """In link mời cho từng đơn vị (Telegram, Zalo). Print an invitation per unit."""
    settings = _settings()
    t = texts(settings.app.language)
    zalo = settings.zalo
    on_zalo = zalo.token is not None or bool(zalo.bot_name)
    username = _bot_username(settings)
    if not username and not on_zalo:
        echo(t.plain("cli.no_username"), err=True)
        raise Exit(2)
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
    if on_zalo and zalo.bot_link:
        qr = zalo_qr(zalo.bot_link, qr_dir)
        echo(t.plain("cli.invite_zalo_qr", path=str(qr), link=zalo.bot_link))
    for item in issued:
        lines = [f"{item.unit_code}  {item.unit_name}"]
        if username:
            lines.append(t.plain("cli.invite_telegram", link=deep_link(username, item.token)))
        if on_zalo:
            bot = zalo.bot_name or zalo.bot_link or "Zalo"
            lines.append(t.plain("cli.invite_zalo", bot=bot, token=item.token))
        uses_text = (
            t.plain("cli.invite_uses", item.max_uses, uses=item.max_uses) if item.max_uses else ""
        )
        expires = t.datetime(item.expires_at, settings.app.tz)
        lines.append(t.plain("cli.invite_expires", expires=expires, uses=uses_text))
        echo("\n".join(lines))


def zalo_qr(link: str, folder: Path) -> Path:
    """The QR code of the bot's Zalo link, as a PNG to print on the invitation letter."""
    import segno  # only the invite command needs it

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "zalo-bot-qr.png"
    segno.make(link, error="m").save(str(path), scale=8, border=4)
    return path


def revoke_invites(cluster: str, unit: str | None = None) -> None:
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
    echo(t.plain("cli.invites_revoked", count, count=count))


# --- the chair's outputs: leaderboard, export and the year-end documents


def leaderboard_command(cluster: str, year: int | None = None) -> None:
    """In bảng xếp hạng của Cụm. Print the cluster's leaderboard."""
    from handlers.leaderboard import board_table  # imports matplotlib: only when asked
    from services.leaderboard import board_by_code

    settings = _settings()
    t = texts(settings.app.language)
    try:
        board = _with_session(settings, lambda s: board_by_code(s, cluster, _now(), year))
    except DomainError as err:
        raise _fail(t, err) from None
    head = "lb.final_head" if board.closed else "lb.head"
    echo(t.text(head, year=board.year, cluster=board.cluster_name))
    echo(t.text("lb.legend", when=t.datetime(board.computed_at, settings.app.tz)))
    echo("")
    echo(board_table(t, board, ratings=board.closed))


def export_command(
    cluster: str, output: Path, year: int | None = None, period: str | None = None
) -> None:
    """Xuất bảng điểm Excel. Export the scoring workbook (.xlsx)."""
    from services.clusters import get_cluster
    from services.export import ExportFile, build_export

    settings = _settings()
    t = texts(settings.app.language)

    async def work(session: Session) -> ExportFile:
        found = await get_cluster(session, cluster)
        return await build_export(session, found, year=year, period_code=period, now=_now())

    try:
        made = _with_session(settings, work)
    except DomainError as err:
        raise _fail(t, err) from None
    output.write_bytes(made.content)
    echo(t.plain("cli.exported", made.units, path=str(output), units=made.units, year=made.year))


def document_command(
    kind: str,
    cluster: str,
    year: int | None = None,
    output: Path | None = None,
    unit: list[str] | None = None,
) -> None:
    """Lập biên bản họp bình xét hoặc tờ trình khen thưởng (.docx) của năm đã kết thúc.
    Write the year-end minutes or the award proposal of a closed year."""
    from services.clusters import get_cluster
    from services.documents import DocumentFile, DocumentKind, build_document

    settings = _settings()
    t = texts(settings.app.language)
    try:
        chosen_kind = DocumentKind(kind.lower())
    except ValueError:
        echo(t.text("cli.document_kind", kind=kind), err=True)
        raise Exit(2) from None

    async def work(session: Session) -> DocumentFile:
        found = await get_cluster(session, cluster)
        # The documents are official and in Vietnamese, like the workbook.
        return await build_document(
            session, found, chosen_kind, texts("vi"), year=year, chosen=unit or None
        )

    try:
        made = _with_session(settings, work)
    except DomainError as err:
        raise _fail(t, err) from None
    target = output or Path(made.filename)
    target.write_bytes(made.content)
    title = t.raw(f"cli.{chosen_kind.value}_title")
    echo(t.plain("cli.document_written", path=str(target), title=title, year=made.year))


# --- operations: webhook mode and backup


def _run_webhook(
    settings: Settings,
    t: Texts,
    *,
    url: str | None,
    listen: str | None,
    port: int | None,
    path: str | None,
) -> None:
    """`thidua run --webhook`: the same Application behind bot/telegram/webhook.py."""
    pause_collector()  # until the bot has started (bot/__init__.py)
    from bot.telegram.app import build_application  # heavy imports, only when running
    from bot.telegram.webhook import WebhookConfig, serve

    try:
        config = WebhookConfig.from_settings(settings, url=url, listen=listen, port=port, path=path)
    except SettingsError as exc:
        echo(t.plain("cli.settings_error", detail=str(exc)), err=True)
        raise Exit(2) from None
    _check_zalo(settings, t)
    from bot.zalo_service import ZaloService

    zalo = ZaloService(settings) if settings.zalo.token is not None else None
    routes = zalo.routes() if zalo is not None else None
    # Zalo's webhook and media ride on this server: it is the one the proxy reaches.
    app_ = build_application(settings, zalo=zalo, zalo_http=False)
    hooks = [zalo.register_webhook] if zalo is not None and zalo.webhook is not None else []
    asyncio.run(serve(app_, config, routes, on_listening=hooks))


def _check_zalo(settings: Settings, t: Texts) -> None:
    """Zalo's settings checked before anything starts (when its token is set)."""
    if settings.zalo.token is None:
        return
    from bot.zalo_service import ZaloService

    try:
        ZaloService.check(settings)
    except SettingsError as exc:
        echo(t.plain("cli.settings_error", detail=str(exc)), err=True)
        raise Exit(2) from None


def backup(output: Path | None = None, keep: int | None = None) -> None:
    """Sao lưu CSDL SQLite, kể cả khi bot đang chạy. Back up the SQLite database (online)."""
    settings = _settings()
    t = texts(settings.app.language)
    source = sqlite_path(settings.database.url)
    if source is None:
        echo(t.plain("ops.backup_postgres"), err=True)
        raise Exit(2)
    if not source.is_file():
        echo(t.plain("ops.backup_missing", path=source), err=True)
        raise Exit(1)
    target = output if output is not None else source.parent / "backups"
    timestamped = output is None or target.is_dir()
    if timestamped:
        target = target / backup_name(source, _now())
    if target.exists():
        echo(t.plain("ops.backup_exists", path=target), err=True)
        raise Exit(1)
    try:
        done = backup_sqlite(source, target)
    except BackupError as exc:
        echo(t.plain("ops.backup_failed", detail=str(exc)), err=True)
        raise Exit(1) from None
    echo(
        t.plain(
            "ops.backup_done",
            source=source,
            target=done.path,
            size=t.number(done.size / 1_000_000, 1),
        )
    )
    if keep is not None and timestamped:
        removed = prune_backups(target.parent, source, keep)
        echo(t.plain("ops.backup_pruned", len(removed), count=len(removed), keep=keep))


# --- the parser: stdlib argparse, every command, option, help text and exit code as before


class _Formatter(argparse.HelpFormatter):
    def add_usage(
        self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None
    ) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not >= 1")
    return number


def _parser() -> argparse.ArgumentParser:
    """The whole command line. Stdlib argparse rather than a CLI framework: `thidua run` is
    a long-lived process, and typer (with click and rich) cost it ~1.3 MB and ~13 ms at
    every start for a dozen commands that argparse describes as well."""
    common: dict[str, Any] = {"formatter_class": _Formatter, "allow_abbrev": False}
    root = argparse.ArgumentParser(
        prog="thidua",
        description="Thi Đua Bot — quản lý Cụm/Khối thi đua qua Telegram "
        "(emulation clusters on Telegram).",
        **common,
    )
    root.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="PATH",
        help="TOML settings file (default: $THIDUA_CONFIG or ./config.toml)",
    )
    commands = root.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(group: Any, name: str, func: Callable[..., None]) -> argparse.ArgumentParser:
        # The help is the function's docstring (Vietnamese, then English), on one line.
        summary = " ".join((func.__doc__ or "").split())
        parser: argparse.ArgumentParser = group.add_parser(
            name, help=summary, description=summary, **common
        )
        parser.set_defaults(command=func)
        return parser

    try_cmd = command(commands, "try", try_)
    try_cmd.add_argument(
        "cluster_file", nargs="?", type=Path, help="Cluster file to rehearse (imported first)"
    )
    try_cmd.add_argument(
        "--as",
        dest="who",
        default="chair",
        help="A member unit's code, or chair / vice (default: chair)",
    )
    try_cmd.add_argument("--at", help='The clock, e.g. "2025-03-28 08:00" (cluster time)')
    try_cmd.add_argument(
        "--configured-db",
        dest="configured",
        action="store_true",
        help="Use the configured database, not a scratch one",
    )

    run_cmd = command(commands, "run", run)
    run_cmd.add_argument(
        "--webhook", action="store_true", help="Receive updates by webhook (docs/deploy.md)"
    )
    run_cmd.add_argument("--webhook-url", help="Public https:// URL Telegram posts to")
    run_cmd.add_argument("--listen", help="Address the webhook server binds")
    run_cmd.add_argument("--port", type=int, help="Port the webhook server binds")
    run_cmd.add_argument("--url-path", help="Path updates are posted to")

    invite_cmd = command(commands, "invite", invite)
    invite_cmd.add_argument("cluster", help="Cluster code")
    invite_cmd.add_argument("unit", nargs="?", help="Unit code (default: every member unit)")
    invite_cmd.add_argument("--days", type=int, help="Days the link stays valid")
    invite_cmd.add_argument("--uses", type=int, help="Officers who may join with one link")
    invite_cmd.add_argument(
        "--qr-dir",
        type=Path,
        metavar="PATH",
        default=Path("."),
        help="Where the QR code of the bot's Zalo link is written (default: .)",
    )

    revoke_cmd = command(commands, "revoke-invites", revoke_invites)
    revoke_cmd.add_argument("cluster", help="Cluster code")
    revoke_cmd.add_argument("unit", nargs="?", help="Unit code (default: every unit)")

    board_cmd = command(commands, "leaderboard", leaderboard_command)
    board_cmd.add_argument("cluster", help="Cluster code")
    board_cmd.add_argument("--year", type=int, help="Year (default: the working year)")

    export_cmd = command(commands, "export", export_command)
    export_cmd.add_argument("cluster", help="Cluster code")
    export_cmd.add_argument(
        "--output", "-o", type=Path, required=True, metavar="PATH", help="The .xlsx file to write"
    )
    export_cmd.add_argument("--year", type=int, help="Year (default: the working year)")
    export_cmd.add_argument("--period", help="One period only, e.g. Q2 or T05 (default: the year)")

    document_cmd = command(commands, "document", document_command)
    document_cmd.add_argument("kind", help="minutes (biên bản họp bình xét) or proposal (tờ trình)")
    document_cmd.add_argument("cluster", help="Cluster code")
    document_cmd.add_argument(
        "--year", type=int, help="A closed year (default: the latest closed one)"
    )
    document_cmd.add_argument(
        "--output", "-o", type=Path, metavar="PATH", help="The .docx file to write"
    )
    document_cmd.add_argument(
        "--unit",
        action="append",
        help="A unit proposed for an award, repeatable "
        "(default: the leading unit and those rated excellent)",
    )

    backup_cmd = command(commands, "backup", backup)
    backup_cmd.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="PATH",
        help="File, or directory for a timestamped copy (default: backups/ by the database)",
    )
    backup_cmd.add_argument(
        "--keep",
        type=_at_least_one,
        help="Then keep only the newest N timestamped backups there (N >= 1)",
    )

    cluster_group = commands.add_parser(
        "cluster",
        help="Cụm thi đua: nhập tệp, liệt kê (clusters: import, list).",
        description="Cụm thi đua: nhập tệp, liệt kê (clusters: import, list).",
        **common,
    )
    cluster_commands = cluster_group.add_subparsers(
        title="commands", metavar="COMMAND", required=True
    )
    import_cmd = command(cluster_commands, "import", cluster_import)
    import_cmd.add_argument(
        "file", type=Path, help="Cluster file (.toml), see docs/cluster-file.md"
    )
    command(cluster_commands, "list", cluster_list)

    db_group = commands.add_parser(
        "db",
        help="Cơ sở dữ liệu (database).",
        description="Cơ sở dữ liệu (database).",
        **common,
    )
    db_commands = db_group.add_subparsers(title="commands", metavar="COMMAND", required=True)
    command(db_commands, "upgrade", db_upgrade)
    return root


def app(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the command; its exit code (2: a usage error, as the
    parser's own errors)."""
    parser = _parser()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args:
            parser.print_help()
            return 2
        options = vars(parser.parse_args(args))
        func: Callable[..., None] = options.pop("command")
        _State.config = options.pop("config")
        try:
            func(**options)
        finally:
            resume_collector()  # if a command paused it and stopped before the bot started
    except Exit as done:
        return done.code
    except SystemExit as done:  # the parser's --help (0) and its usage errors (2)
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        return 1
    return 0


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()

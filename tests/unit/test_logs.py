"""Unit tests for bot/logs.py: the token never reaches a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pydantic import SecretStr

from bot.logs import RedactToken, setup_logging

TOKEN = "123456789:AAH-very-secret-token"
NOISY = ("httpx", "httpcore", "apscheduler")


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("telegram.ext", logging.INFO, __file__, 1, msg, args or None, None)


def _capture(filter_: logging.Filter) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(filter_)
    logger = logging.getLogger("tests.unit.test_logs.capture")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream, handler


@contextmanager
def _preserved_logging() -> Iterator[None]:
    """Put back the root handlers and the levels setup_logging changes.

    Used inside the test body, so pytest's own capture handlers for the call phase are the
    ones saved and restored.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


# --- RedactToken ---------------------------------------------------------------------------


def test_the_token_is_replaced_in_a_message_with_args() -> None:
    record = _record("POST https://api.telegram.org/bot%s/getUpdates %s", TOKEN, "200 OK")

    assert RedactToken(TOKEN).filter(record) is True
    assert record.getMessage() == "POST https://api.telegram.org/bot<token>/getUpdates 200 OK"
    assert record.args is None


def test_the_token_is_replaced_in_a_message_without_args() -> None:
    record = _record(f"token={TOKEN}; again {TOKEN}")

    RedactToken(TOKEN).filter(record)

    assert record.getMessage() == "token=<token>; again <token>"


def test_the_token_is_replaced_inside_a_formatted_object() -> None:
    record = _record("params: %s", {"url": f"https://api.telegram.org/bot{TOKEN}/getMe"})

    RedactToken(TOKEN).filter(record)

    assert TOKEN not in record.getMessage()
    assert "bot<token>/getMe" in record.getMessage()


def test_a_record_without_the_token_is_left_alone() -> None:
    args = ("Q1", 3)
    record = _record("period %s: %d reports", *args)

    assert RedactToken(TOKEN).filter(record) is True
    assert record.msg == "period %s: %d reports"
    assert record.args == args
    assert record.getMessage() == "period Q1: 3 reports"


def test_an_empty_token_changes_nothing() -> None:
    record = _record("nothing %s here", "secret")

    assert RedactToken("").filter(record) is True
    assert record.msg == "nothing %s here"
    assert record.args == ("secret",)


def test_a_handler_with_the_filter_never_writes_the_token() -> None:
    logger, stream, handler = _capture(RedactToken(TOKEN))
    try:
        logger.info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.warning("unrelated %s", "line")
    finally:
        logger.removeHandler(handler)

    assert stream.getvalue().splitlines() == [
        "INFO HTTP Request: POST https://api.telegram.org/bot<token>/getMe",
        "WARNING unrelated line",
    ]


def test_the_token_is_scrubbed_from_a_logged_traceback() -> None:
    logger, stream, handler = _capture(RedactToken(TOKEN))
    try:
        try:
            raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getMe failed")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)

    assert "request failed" in stream.getvalue()
    assert TOKEN not in stream.getvalue()


# --- setup_logging -------------------------------------------------------------------------


def test_setup_logging_quiets_the_http_loggers() -> None:
    with _preserved_logging():
        for name in NOISY:
            logging.getLogger(name).setLevel(logging.DEBUG)

        setup_logging("DEBUG", None)

        assert logging.getLogger("httpx").level == logging.WARNING
        assert logging.getLogger("httpcore").level == logging.WARNING
        assert logging.getLogger("apscheduler").level == logging.WARNING
        assert logging.getLogger().level == logging.DEBUG


def test_setup_logging_installs_one_handler_that_redacts_the_token() -> None:
    with _preserved_logging():
        setup_logging("INFO", SecretStr(TOKEN))
        root = logging.getLogger()

        assert root.level == logging.INFO
        assert len(root.handlers) == 1
        (handler,) = root.handlers
        filters = [f for f in handler.filters if isinstance(f, RedactToken)]
        assert len(filters) == 1
        assert filters[0].token == TOKEN


def test_setup_logging_without_a_token_adds_no_filter() -> None:
    with _preserved_logging():
        setup_logging("WARNING", None)
        root = logging.getLogger()

        assert root.level == logging.WARNING
        assert len(root.handlers) == 1
        assert root.handlers[0].filters == []


def test_setup_logging_output_has_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    with _preserved_logging():
        setup_logging("INFO", SecretStr(TOKEN))
        logging.getLogger("telegram.ext.Updater").info("polling bot%s", TOKEN)

    err = capsys.readouterr().err
    assert "INFO telegram.ext.Updater: polling bot<token>" in err
    assert TOKEN not in err


def test_both_channels_tokens_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    zalo = "7788990011:ZaloSecretPart_abc-XYZ"
    with _preserved_logging():
        setup_logging("INFO", SecretStr(TOKEN), None, SecretStr(zalo))
        logging.getLogger("bot.zalo").info(
            "GET https://bot-api.zaloplatforms.com/bot%s/getMe", zalo
        )
        logging.getLogger("telegram").info("polling bot%s", TOKEN)

    err = capsys.readouterr().err
    assert "zaloplatforms.com/bot<token>/getMe" in err and "polling bot<token>" in err
    assert zalo not in err and TOKEN not in err

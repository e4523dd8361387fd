"""The adapter's fault handling, below the e2e tier (tests/e2e/test_faults.py): each fault
logged once by the request, spoilt answers made NetworkErrors, replies retried by our
limiter, a batch held after a 429, database outages told from bugs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData

from bot.telegram.limits import Limiter, retry_seconds
from bot.telegram.request import FAULT, BadAnswer, BotRequest
from models.db import unavailable

URL = "https://api.telegram.org/bot123:SECRET/sendMessage"


class Canned(BotRequest):
    """A BotRequest whose HTTP exchange answers what the test says."""

    def __init__(self, answer: tuple[int, bytes] | Exception) -> None:
        super().__init__()
        self.answer = answer

    async def exchange(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BotRequest.DEFAULT_NONE,
        write_timeout: Any = BotRequest.DEFAULT_NONE,
        connect_timeout: Any = BotRequest.DEFAULT_NONE,
        pool_timeout: Any = BotRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def _post(request: BotRequest) -> Any:
    return await request.post(URL, read_timeout=1)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>bad gateway</html>", "not JSON"),
        (b'{"description": "x"}', "no 'ok'"),
        (b'{"ok": true}', "no 'result'"),
        (b"[1, 2]", "no 'ok'"),
    ],
)
async def test_a_spoilt_answer_is_a_network_error_logged_once_without_traceback(
    body: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BadAnswer):
        await _post(Canned((200, body)))

    lines = [r for r in caplog.records if FAULT in r.getMessage()]
    assert len(lines) == 1 and why in lines[0].getMessage()
    assert "sendMessage" in lines[0].getMessage() and "SECRET" not in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


async def test_an_error_page_on_a_5xx_is_one_line_and_a_network_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await _post(Canned((502, b"<html>nginx</html>")))

    assert len([r for r in caplog.records if FAULT in r.getMessage()]) == 1
    assert not any(r.exc_info for r in caplog.records)  # PTB's own parser logs a traceback


async def test_a_reset_is_logged_with_its_root_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    error = NetworkError("httpx.ReadError: ")
    error.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    with pytest.raises(NetworkError):
        await _post(Canned(error))

    (line,) = [r.getMessage() for r in caplog.records if FAULT in r.getMessage()]
    assert "Connection reset by peer" in line


async def test_a_good_answer_passes_and_a_download_is_not_read_as_json() -> None:
    assert await _post(Canned((200, b'{"ok": true, "result": 7}'))) == 7
    raw = await Canned((200, b"%PDF-1.4 bytes")).retrieve("https://x/file/bot1:A/doc.pdf")
    assert raw == b"%PDF-1.4 bytes"


class Flaky:
    """A Bot API call failing with `errors`, one per attempt, then answering True."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return True


async def _through(limiter: Limiter, call: Flaky, *, batch: bool, chat_id: int = 42) -> Any:
    return await limiter.process_request(
        call, (), {}, "sendMessage", {"chat_id": chat_id}, {"batch": True} if batch else None
    )


async def test_a_reply_retries_network_errors_and_time_outs() -> None:
    limiter = Limiter(network_backoff=0.001)
    call = Flaky(NetworkError("500"), TimedOut(), BadAnswer("not JSON"))

    assert await _through(limiter, call, batch=False) is True
    assert call.calls == 4


async def test_a_reply_gives_up_after_three_retries_and_never_retries_a_bad_request() -> None:
    limiter = Limiter(network_backoff=0.001)
    failing = Flaky(*[NetworkError("500")] * 5)
    with pytest.raises(NetworkError):
        await _through(limiter, failing, batch=False)
    assert failing.calls == 4

    refused = Flaky(BadRequest("chat not found"))
    with pytest.raises(BadRequest):
        await _through(limiter, refused, batch=False)
    assert refused.calls == 1


async def test_a_batch_request_is_not_retried_here() -> None:
    limiter = Limiter(network_backoff=0.001)
    call = Flaky(NetworkError("500"))
    with pytest.raises(NetworkError):
        await _through(limiter, call, batch=True)
    assert call.calls == 1


# PTB 22 warns on building a RetryAfter, as Telegram's answer does in production.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_after_a_batch_429_no_batch_request_goes_out_before_its_time_replies_do() -> None:
    limiter = Limiter()
    moment = [500.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # time moves only by what is waited
        slept.append(seconds)
        moment[0] += seconds

    limiter.now, limiter.sleep = (lambda: moment[0]), sleep
    refused = Flaky(RetryAfter(2))
    with pytest.raises(RetryAfter):
        await _through(limiter, refused, batch=True)  # handed back at once, not retried
    assert refused.calls == 1 and slept == []
    moment[0] += 0.1
    sent_at: list[float] = []

    async def stamped() -> bool:
        sent_at.append(moment[0])
        return True

    # Another chat and a reply: the reply goes now, the batch's request after the 2 s.
    assert await limiter.process_request(stamped, (), {}, "sendMessage", {"chat_id": 8}, None)
    assert await limiter.process_request(
        stamped, (), {}, "sendMessage", {"chat_id": 9}, {"batch": True}
    )
    assert sent_at[0] == 500.1 and sent_at[1] >= 502.0


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_batch_request_during_a_long_pause_is_refused_not_kept_waiting() -> None:
    """Kept waiting inside its send, its claim in the ledger could lapse: the batch waits
    such a pause out itself, where the claim is renewed."""
    limiter = Limiter()
    limiter.now = lambda: 500.0
    with pytest.raises(RetryAfter):
        await _through(limiter, Flaky(RetryAfter(120)), batch=True)
    later = Flaky()
    with pytest.raises(RetryAfter) as refused:
        await _through(limiter, later, batch=True, chat_id=9)
    assert later.calls == 0 and retry_seconds(refused.value) >= 120
    reply = Flaky()
    assert await _through(limiter, reply, batch=False, chat_id=8) is True


async def test_every_request_naming_a_chat_passes_the_one_window() -> None:
    limiter = Limiter()
    counted: list[int] = []

    async def call() -> bool:
        counted.append(limiter.window.in_window(limiter.window.now()))
        return True

    await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 5}, None)
    await limiter.process_request(call, (), {}, "sendPhoto", {"chat_id": 6}, {"batch": True})
    await limiter.process_request(call, (), {}, "getMe", {}, None)
    # In flight, each send is in the window (itself and the one before it); getMe is not.
    assert counted == [1, 2, 2]


def test_a_database_outage_is_told_from_a_bug() -> None:
    class Gone(Exception):
        sqlstate = "57P03"  # cannot_connect_now: the server is starting up

    class Duplicate(Exception):
        sqlstate = "23505"

    assert unavailable(DBAPIError("SELECT 1", None, Gone()))
    assert unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert unavailable(DBAPIError("SELECT 1", None, Gone(), connection_invalidated=False))
    assert not unavailable(IntegrityError("INSERT", None, Duplicate()))
    assert not unavailable(ValueError("a bug"))

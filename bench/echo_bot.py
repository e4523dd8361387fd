"""A bare python-telegram-bot echo bot: the baseline process of bench_memory.

BENCH_BASE_URL=http://127.0.0.1:PORT/bot .venv/bin/python -m bench.echo_bot
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(update.effective_message.text or "")


def main() -> None:
    app = (
        ApplicationBuilder()
        .token(os.environ.get("BENCH_TOKEN", "123456:BENCH"))
        .base_url(os.environ["BENCH_BASE_URL"])
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()

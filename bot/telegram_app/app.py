"""All wiring of the Telegram bot in one builder, and ``run_bot`` for ``digestbot run``."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from telegram import Bot, BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import logs
from bot.app.chat_app import ChatApp
from bot.core.errors import ConfigError
from bot.core.service import DigestService
from bot.core.settings import Settings
from bot.telegram_app import channels, desk_commands, feed_commands, handlers
from bot.telegram_app.access import AccessPolicy
from bot.telegram_app.edge import Edge
from bot.telegram_app.replies import TelegramReplies

log = logging.getLogger(__name__)

# Only what the handlers read (channel posts: a channel the bot administers digests its
# posts); no reactions or member updates to wake us.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.CHANNEL_POST,
    Update.EDITED_CHANNEL_POST,
]
# The feed commands also work posted in a channel (the channel follows the feed).
_CHATS_AND_CHANNELS = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
_LISTEN_ERRORS = (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


# Files read as articles (bot.core.sources reads them); old Word, RTF and OpenDocument files
# come too, so their sender hears how to convert them.
_DOCUMENT_TYPES = ("text/plain", "text/markdown", "text/html", "application/xhtml+xml",
                   "application/pdf", "application/vnd.openxmlformats-officedocument"
                   ".wordprocessingml.document")  # fmt: skip
_DOCUMENT_SUFFIXES = ("txt", "md", "markdown", "html", "htm", "xhtml", "pdf", "docx",
                      "doc", "rtf", "odt")  # fmt: skip
DOCUMENTS: filters.BaseFilter = filters.Document.MimeType(_DOCUMENT_TYPES[0])
for _type in _DOCUMENT_TYPES[1:]:
    DOCUMENTS = DOCUMENTS | filters.Document.MimeType(_type)
for _suffix in _DOCUMENT_SUFFIXES:
    DOCUMENTS = DOCUMENTS | filters.Document.FileExtension(_suffix)


class WebhookBodyFilter(logging.Filter):
    """PTB logs a webhook body it cannot parse whole, at CRITICAL with a traceback, and every
    body at DEBUG: an article's text in the log. Keep one line saying a malformed update came
    (it had the right secret, so it is worth a WARNING), without the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Something went wrong processing the data received"):
            error = record.exc_info[1] if record.exc_info else None
            record.msg = "a malformed update arrived on the webhook and was refused (%s)"
            record.args = (type(error).__name__ if error else "unreadable",)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        elif message.startswith("Webhook received data"):
            record.msg, record.args = (
                "webhook received an update (%d characters)",
                (sum(len(str(a)) for a in record.args or ()),),
            )
        return True


def redact_webhook_bodies() -> None:
    """Install WebhookBodyFilter once on PTB's webhook logger (a logger filter, so it holds
    whatever handlers the process has)."""
    logger = logging.getLogger("telegram.ext.Updater")  # webhookhandler.py's _LOGGER
    if not any(isinstance(f, WebhookBodyFilter) for f in logger.filters):
        logger.addFilter(WebhookBodyFilter())


def file_base_url(base_url: str) -> str:
    """Telegram serves files beside the API: .../bot -> .../file/bot."""
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


def build_application(settings: Settings, service: DigestService) -> Application:  # type: ignore[type-arg]
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
    redact_webhook_bodies()
    access = AccessPolicy.from_settings(settings)
    if access.nobody:
        log.warning("no user is allowed yet: set BOT_ALLOWED_USERS (IDs, or '*' for everyone)")
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url or file_base_url(settings.telegram_base_url))
        .rate_limiter(AIORateLimiter(max_retries=3))  # waits out 429 RetryAfter and retries
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    chat_app = ChatApp.build(service, TelegramReplies(application.bot))
    application.bot_data["edge"] = Edge(chat_app, access)

    application.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    # First in its group, so an edited command or question never reaches the handlers below.
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, handlers.on_edit))
    # Feed commands before channel posts, which go to their own handler before any below.
    application.add_handler(
        CommandHandler("follow", feed_commands.follow_command, _CHATS_AND_CHANNELS, block=False)
    )
    application.add_handler(
        CommandHandler("unfollow", feed_commands.unfollow_command, _CHATS_AND_CHANNELS)
    )
    application.add_handler(
        CommandHandler("following", feed_commands.following_command, _CHATS_AND_CHANNELS)
    )
    application.add_handler(
        MessageHandler(filters.UpdateType.CHANNEL_POSTS, channels.on_channel_post)
    )
    application.add_handler(CommandHandler(["start", "help"], handlers.start))
    application.add_handler(CommandHandler("digest", handlers.digest_command))
    application.add_handler(CommandHandler("new", handlers.new_command))
    application.add_handler(CommandHandler("articles", handlers.articles_command))
    application.add_handler(CommandHandler("export", handlers.export_command))
    application.add_handler(CommandHandler("who", desk_commands.who_command))
    application.add_handler(CommandHandler("pledges", desk_commands.pledges_command))
    application.add_handler(CommandHandler("search", desk_commands.search_command))
    application.add_handler(CommandHandler("brief", desk_commands.brief_command))
    application.add_handler(CommandHandler("ask", desk_commands.ask_all))
    application.add_handler(CommandHandler("language", desk_commands.language_command))
    application.add_handler(CommandHandler("watch", desk_commands.watch_command))
    application.add_handler(CommandHandler("unwatch", desk_commands.unwatch_command))
    application.add_handler(CommandHandler("watching", desk_commands.watching_command))
    application.add_handler(CommandHandler("usage", handlers.usage_command))
    application.add_handler(CommandHandler("cancel", handlers.cancel_command))
    application.add_handler(CommandHandler("forget", handlers.forget_command))
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(MessageHandler(DOCUMENTS, handlers.on_document))
    application.add_handler(
        MessageHandler((filters.TEXT | filters.CAPTION) & ~filters.COMMAND, handlers.on_text)
    )
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND, handlers.on_other
        )
    )
    application.add_error_handler(handlers.on_error)
    return application


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    """Register commands, then take up work: left by a previous run, or shared by replicas."""
    chat_app = _edge(application).app
    await _cosmetic(application)
    await asyncio.to_thread(chat_app.service.warm_up)
    resumed = chat_app.start()
    log.info("bot @%s ready as replica %s; resumed %d job(s)", application.bot.username,
             chat_app.runner.replica, resumed)  # fmt: skip


def _edge(application: Application) -> Edge:  # type: ignore[type-arg]
    found: Edge = application.bot_data["edge"]
    return found


async def _cosmetic(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu and the profile text: nice to have, never a reason not to start."""
    bot = application.bot
    try:
        await bot.set_my_commands([BotCommand(c, t) for c, t in handlers.COMMANDS])
        await bot.set_my_description(handlers.DESCRIPTION)
    except TelegramError as error:  # PTB calls a 404 InvalidToken; the token did work
        log.warning("could not set the bot's commands or description: %s", error)


async def _post_stop(application: Application) -> None:  # type: ignore[type-arg]
    """Updates have stopped: finish pastes and digests, or leave them for later (ChatApp.stop)."""
    await _edge(application).app.stop()


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    await _edge(application).app.service.aclose()


def webhook_secret(settings: Settings) -> str:
    """BOT_WEBHOOK_SECRET, or one generated once and kept in the data folder."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    path = Path(settings.data_dir) / "webhook-secret"
    try:
        if path.is_file() and (kept := path.read_text().strip()):
            return kept
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)  # [A-Za-z0-9_-] only, as Telegram requires
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as sink:
            sink.write(secret + "\n")
    except OSError as error:
        raise ConfigError(f"cannot keep the webhook secret in {path}: {error}") from error
    log.info("BOT_WEBHOOK_SECRET is unset: using the one kept in %s", path)
    return secret


def check_token(settings: Settings) -> None:
    """One getMe before PTB starts: its own failure is a traceback that quotes the token."""
    assert settings.telegram_bot_token is not None
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url or file_base_url(settings.telegram_base_url),
    )

    async def get_me() -> None:
        async with bot:  # initialize() calls getMe
            pass

    try:
        asyncio.run(get_me())
    except InvalidToken:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN was rejected by the Bot API; check it with @BotFather"
        ) from None
    except NetworkError as error:
        raise ConfigError(
            f"cannot reach the Bot API at {settings.telegram_base_url} "
            f"({type(error).__name__}); check TELEGRAM_BASE_URL and the network"
        ) from None


def listen_error(settings: Settings, error: OSError) -> ConfigError:
    """The webhook listener's OSError as one line naming the setting to change."""
    where = f"{settings.webhook_listen}:{settings.webhook_port}"
    if error.errno == errno.EADDRINUSE:
        return ConfigError(
            f"the webhook port {settings.webhook_port} is taken ({where} is already in use by "
            "another program); stop it or set BOT_WEBHOOK_PORT to a free port"
        )
    if error.errno == errno.EACCES:
        return ConfigError(
            f"not allowed to listen on {where} (ports below 1024 need privileges); "
            "set BOT_WEBHOOK_PORT to a port above 1023"
        )
    return ConfigError(
        f"cannot listen on {where} ({error.strerror or type(error).__name__}); "
        "check BOT_WEBHOOK_LISTEN and BOT_WEBHOOK_PORT"
    )


def check_listen(settings: Settings) -> None:
    """Bind the webhook's address once before anything starts: a taken port is then one line,
    before Telegram is pointed at a bot that cannot listen (PTB sets the webhook first)."""
    try:
        found = socket.getaddrinfo(
            settings.webhook_listen or None, settings.webhook_port,
            type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE,
        )  # fmt: skip
        for family, kind, proto, _, address in found:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado does
                probe.bind(address)
    except OSError as error:
        raise listen_error(settings, error) from None


def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; PTB then waits for running digests before it exits."""
    service = DigestService.from_settings(settings)
    application = build_application(settings, service)
    check_token(settings)
    try:
        if settings.webhook_url:
            check_listen(settings)
            secret = webhook_secret(settings)
            logs.add_secret(secret)
            # Telegram calls the public URL; we listen on the same path behind the proxy.
            application.run_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        # PTB's own message quotes the token; ours names the setting only.
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN was rejected by the Bot API; check it with @BotFather"
        ) from None
    except OSError as error:
        if settings.webhook_url and error.errno in _LISTEN_ERRORS:  # taken since check_listen
            raise listen_error(settings, error) from None
        raise
    return 0

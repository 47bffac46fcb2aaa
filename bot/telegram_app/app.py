"""All wiring of the Telegram bot in one builder, and ``run_bot`` for ``digestbot run``."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from telegram import BotCommand, Update
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

from bot.core.service import ConfigError, DigestService
from bot.core.settings import Settings
from bot.telegram_app import handlers
from bot.telegram_app.access import AccessPolicy
from bot.telegram_app.paste import PasteCollector
from bot.telegram_app.state import TelegramState
from bot.telegram_app.work import ChatWork, spawn_in

log = logging.getLogger(__name__)


def file_base_url(base_url: str) -> str:
    """Telegram serves files beside the API: .../bot -> .../file/bot."""
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


def build_application(settings: Settings, service: DigestService) -> Application:  # type: ignore[type-arg]
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
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
        .post_shutdown(_post_shutdown)
        .build()
    )
    state = TelegramState(service.store)
    spawn = spawn_in(application)
    work = ChatWork(service, state, application.bot, spawn)
    pastes = PasteCollector(state, settings.fragment_quiet_seconds, work.paste_complete, spawn)
    application.bot_data["deps"] = handlers.Deps(service, state, access, pastes, work)

    application.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    application.add_handler(CommandHandler(["start", "help"], handlers.start))
    application.add_handler(CommandHandler("digest", handlers.digest_command))
    application.add_handler(CommandHandler("new", handlers.new_command))
    application.add_handler(CommandHandler("articles", handlers.articles_command))
    application.add_handler(CommandHandler("export", handlers.export_command))
    application.add_handler(CommandHandler("usage", handlers.usage_command))
    application.add_handler(CommandHandler("cancel", handlers.cancel_command))
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    text_files = filters.Document.MimeType("text/plain") | filters.Document.FileExtension("md")
    application.add_handler(MessageHandler(text_files, handlers.on_text_file))
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
    """Register commands, then finish whatever a previous run left undone."""
    d: handlers.Deps = application.bot_data["deps"]
    await application.bot.set_my_commands([BotCommand(c, t) for c, t in handlers.COMMANDS])
    resumed = d.work.resume()
    d.pastes.resume()
    log.info("bot @%s ready; resumed %d digest(s)", application.bot.username, resumed)


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    d: handlers.Deps = application.bot_data["deps"]
    await d.service.aclose()


def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; PTB then waits for running digests before it exits."""
    service = DigestService.from_settings(settings)
    application = build_application(settings, service)
    if settings.webhook_url:
        # Telegram calls the public URL; we listen on the same path behind the proxy.
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=(
                settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            ),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0

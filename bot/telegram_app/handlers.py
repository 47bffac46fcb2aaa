"""Update handlers: each turns one kind of update into a call on the core or on ChatWork."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.core.service import DigestService
from bot.telegram_app import render
from bot.telegram_app.access import AccessPolicy
from bot.telegram_app.paste import PasteCollector, looks_like_article
from bot.telegram_app.state import TelegramState, chat_scope, user_key
from bot.telegram_app.work import ChatWork, send_html

log = logging.getLogger(__name__)

HELP = (
    "I read long news articles for you.\n\n"
    "• Paste an article (or forward a post). Long pastes split by Telegram are joined.\n"
    "• I reply with a summary, the officials named and their commitments, each backed by "
    "a quote from the article.\n"
    "• Then ask me anything about it. Reply to an older digest to ask about that article.\n\n"
    "/articles – recent articles · /export – download the digest · /new – start over\n"
    "/usage – tokens used today · /cancel – stop a running digest"
)
COMMANDS = [
    ("start", "What this bot does"),
    ("help", "How to use it"),
    ("digest", "Digest the text you reply to"),
    ("articles", "Recent articles in this chat"),
    ("export", "Download the current digest"),
    ("usage", "Tokens used today"),
    ("new", "Forget the current article"),
    ("cancel", "Stop a running digest"),
]


@dataclass
class Deps:
    """Everything handlers need; kept in ``application.bot_data``."""

    service: DigestService
    state: TelegramState
    access: AccessPolicy
    pastes: PasteCollector
    work: ChatWork


def deps(context: ContextTypes.DEFAULT_TYPE) -> Deps:
    found: Deps = context.bot_data["deps"]
    return found


def _addressed(message: Message, bot_username: str, bot_id: int) -> bool:
    """In groups, act only when mentioned, replied to, or commanded."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot_id:
        return True
    mentions = message.parse_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND])
    return any(f"@{bot_username}".lower() in text.lower() for text in mentions.values())


def _strip_mention(text: str, bot_username: str) -> str:
    return text.replace(f"@{bot_username}", "").strip()


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drop redelivered updates and strangers before any other handler runs."""
    d = deps(context)
    if not d.state.first_sight(update.update_id):
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    if d.access.allows(user.id if user else None, chat.id if chat else None):
        return
    message = update.effective_message
    if (
        message is not None
        and user is not None
        and (
            update.callback_query is not None
            or _addressed(message, context.bot.username, context.bot.id)
        )
    ):
        await message.reply_text(
            f"Sorry, this bot is private. Your Telegram user ID is {user.id}; "
            "send it to the bot's owner to be let in."
        )
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain the bot in a few lines."""
    if update.effective_message:
        await update.effective_message.reply_text(HELP)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Collect pasted text, or answer a short follow-up question."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    chat_id = message.chat_id
    pending = d.pastes.pending(chat_id, user.id)
    if not pending and not _addressed(message, context.bot.username, context.bot.id):
        return
    text = _strip_mention(message.text or message.caption or "", context.bot.username)
    if not text:
        return
    reply = message.reply_to_message
    about = d.state.article_of_message(chat_id, reply.message_id) if reply else None
    forwarded = message.forward_origin is not None
    if pending or forwarded or (about is None and (looks_like_article(text) or len(text) > 1000)):
        d.pastes.add(chat_id, user.id, message.message_id, text, forwarded)
        return
    await d.work.ask(chat_id, user.id, text, reply_to=message.message_id, about=about)


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest the replied-to text, the command's own text, or the paste in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    reply = message.reply_to_message
    own_text = (message.text or "").partition(" ")[2].strip()
    if reply is not None and (reply.text or reply.caption):
        await d.work.start_digest(
            message.chat_id, user.id, reply.text or reply.caption or "", reply_to=reply.message_id
        )
    elif own_text:
        await d.work.start_digest(message.chat_id, user.id, own_text, reply_to=message.message_id)
    elif not await d.pastes.flush_now(message.chat_id, user.id):
        await message.reply_text("Reply /digest to a message with the article, or paste one.")


async def new_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the current article and any paste in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    d.pastes.discard(message.chat_id, user.id)
    d.state.set_current_article(message.chat_id, None)
    await message.reply_text("Done. Paste a new article whenever you like.")


async def articles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the chat's recent articles as buttons."""
    message = update.effective_message
    if message is None:
        return
    d = deps(context)
    recent = d.service.store.recent_articles(chat_scope(message.chat_id), limit=8)
    if not recent:
        await message.reply_text("No articles yet. Paste one to begin.")
        return
    current = d.state.current_article(message.chat_id)
    buttons = [
        [
            InlineKeyboardButton(
                ("✓ " if a.id == current else "") + a.title[:60], callback_data=f"a:{a.id}"
            )
        ]
        for a in recent
    ]
    await message.reply_text(
        "Recent articles. Pick one to ask about it:", reply_markup=InlineKeyboardMarkup(buttons)
    )


async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the current digest as Markdown and JSON files."""
    message = update.effective_message
    if message is None:
        return
    article_id = deps(context).state.current_article(message.chat_id)
    if article_id is None:
        await message.reply_text("There is no current article to export yet.")
        return
    await _export(context, message.chat_id, article_id, ("md", "json"))


async def usage_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the tokens this user spent today and the quota."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    used = d.service.usage_today(user_key(user.id))
    quota = d.work.quota
    limit = f"of your {quota:,} daily tokens" if quota else "tokens (no daily limit)"
    await message.reply_text(f"Today you have used {used:,} {limit}. Counts reset at 00:00 UTC.")


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop the digest running in this chat."""
    message = update.effective_message
    if message is None:
        return
    if not deps(context).work.cancel(message.chat_id):
        await message.reply_text("Nothing is running right now.")


MAX_FILE_BYTES = 2_000_000


async def on_text_file(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest an article sent as a .txt or .md file."""
    message, user = update.effective_message, update.effective_user
    document = message.document if message else None
    if message is None or user is None or document is None:
        return
    if not _addressed(message, context.bot.username, context.bot.id):
        return
    if (document.file_size or 0) > MAX_FILE_BYTES:
        await message.reply_text("That file is too large for me; send at most 2 MB of text.")
        return
    data = await (await document.get_file()).download_as_bytearray()
    text = bytes(data).decode("utf-8", errors="replace")
    await deps(context).work.start_digest(
        message.chat_id, user.id, text, reply_to=message.message_id
    )


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain that only text can be read."""
    message = update.effective_message
    if message is not None and _addressed(message, context.bot.username, context.bot.id):
        await message.reply_text(
            "I can only read text. Paste the article's text, forward a post that has it, "
            "or send it as a .txt file."
        )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show officials or commitments, export, or switch the current article."""
    query = update.callback_query
    if query is None or query.message is None or query.data is None:
        return
    await query.answer()
    d = deps(context)
    chat_id = query.message.chat.id
    action, _, raw_id = query.data.partition(":")
    article = (
        d.service.store.article(int(raw_id), chat_scope(chat_id)) if raw_id.isdigit() else None
    )
    if article is None:
        await context.bot.send_message(chat_id, "That article is no longer available.")
        return
    if action in ("m", "j"):
        await _export(context, chat_id, article.id, ("md",) if action == "m" else ("json",))
        return
    if action == "a":
        d.state.set_current_article(chat_id, article.id)
        await context.bot.send_message(
            chat_id,
            f"Now discussing: <i>{html.escape(article.title)}</i>. Ask away.",
            parse_mode=ParseMode.HTML,
        )
        return
    digest = d.service.cached_digest(article)
    if digest is None:
        await context.bot.send_message(chat_id, "This article has not been digested yet.")
        return
    paragraphs = (
        render.officials_paragraphs(digest)
        if action == "o"
        else render.commitments_paragraphs(digest)
    )
    sent = await send_html(context.bot, chat_id, paragraphs)
    d.state.link_messages(chat_id, sent, article.id)


async def _export(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, article_id: int, kinds: tuple[str, ...]
) -> None:
    d = deps(context)
    article = d.service.store.article(article_id, chat_scope(chat_id))
    digest = d.service.cached_digest(article) if article else None
    if article is None or digest is None:
        await context.bot.send_message(chat_id, "That article has no digest to export yet.")
        return
    for kind in kinds:
        body = (
            render.digest_markdown(digest, article.title)
            if kind == "md"
            else render.digest_json(digest)
        )
        await context.bot.send_document(
            chat_id,
            InputFile(body.encode("utf-8"), filename=f"digest-{article.id}.{kind}"),
            caption=f"Digest of “{article.title[:200]}”",
        )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unexpected error with its update, then tell the user briefly."""
    log.error("unhandled error for update %s", update, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                "Sorry, something went wrong on my side. Your text is saved; please try again.",
            )
        except Exception:  # the error report itself failed; it is already logged above
            log.warning("could not tell the user about the error", exc_info=True)

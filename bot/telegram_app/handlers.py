"""Update handlers: each turns one kind of update into a call on the application (``bot.app``)
or the core's front door. The register, watchlist and language commands are in
``desk_commands.py``."""

from __future__ import annotations

import html
import json
import logging
import time

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.app.incoming import IncomingText
from bot.app.memory import chat_scope
from bot.app.quota import account_of
from bot.core.service import clean
from bot.telegram_app import desk_commands, render
from bot.telegram_app.edge import Edge, app_of, edge_of
from bot.telegram_app.files import fetch_document, file_limit
from bot.telegram_app.replies import retry_keyboard, send_html

log = logging.getLogger(__name__)

HELP = (
    "I read long news articles for you.\n\n"
    "• Paste an article (or forward a post). Long pastes split by Telegram are joined.\n"
    "• Or send a link to it, or the file: PDF, Word (.docx), .html, .txt or .md.\n"
    "• I reply with a summary, the officials named and their commitments, each backed by "
    "a quote from the article.\n"
    "• Then ask me anything about it. Reply to an older digest to ask about that article.\n\n"
    "Across this chat's articles:\n"
    "/ask <question> – answered from all of them, each line with its quote and its article "
    "(after /new, a plain question is asked this way too)\n"
    "/who <name> – the articles naming someone, with their titles and pledges\n"
    "/pledges <name> – what a person, body or city committed to, newest first\n"
    "/search <words> – find articles · /export register – the register as CSV and JSON\n"
    "Add “since 2024-03” to any of these for articles dated then or later.\n"
    "/brief – what arrived today: articles, places, new officials, pledges "
    "(/brief week: the last 7 days)\n"
    "/watch <name, place or word> – after each digest that mentions it, I tell you where "
    "(/unwatch <it> or /unwatch all · /watching lists them)\n"
    "/follow <RSS or Atom address> – I digest each new item of the feed here "
    "(/unfollow <address or number> · /following lists them)\n"
    "Make me an administrator of a channel: I digest its long posts there, in reply.\n\n"
    "/articles – recent articles · /export – download the digest · /new – start over\n"
    "/language <name> – the language I write in · /usage – tokens used today\n"
    "/cancel – stop a running digest\n"
    "/forget – delete this chat's articles, digests and questions"
)
DESCRIPTION = (
    "Paste a long news article: I reply with a short summary, the officials it names and "
    "their commitments, each backed by a quote. Then ask me about it."
)
REFUSAL_INTERVAL = 3600.0  # a stranger hears "this bot is private" once an hour, not per message
COMMANDS = [
    ("start", "What this bot does"),
    ("help", "How to use it"),
    ("digest", "Digest the text you reply to"),
    ("ask", "Ask across all of this chat's articles"),
    ("articles", "Recent articles in this chat"),
    ("who", "Articles naming a person"),
    ("pledges", "Commitments of a person or body"),
    ("search", "Find articles by their words"),
    ("brief", "What arrived today (or: /brief week)"),
    ("watch", "Be told when a digest mentions a name, place or word"),
    ("unwatch", "Stop watching (or: /unwatch all)"),
    ("watching", "What this chat watches"),
    ("follow", "Digest each new item of an RSS or Atom feed"),
    ("unfollow", "Stop following a feed"),
    ("following", "The feeds this chat follows"),
    ("export", "Download the digest (or: /export register)"),
    ("language", "The language digests are written in"),
    ("usage", "Tokens used today"),
    ("new", "Forget the current article"),
    ("cancel", "Stop a running digest"),
    ("forget", "Delete this chat's articles"),
]


def origin_of(origin: MessageOrigin) -> str:
    """Who wrote a forwarded post, when, and (for a channel) which post, as stored JSON."""
    if isinstance(origin, MessageOriginUser):
        who = f"user:{origin.sender_user.id}"
    elif isinstance(origin, MessageOriginHiddenUser):
        who = f"hidden:{origin.sender_user_name}"
    elif isinstance(origin, MessageOriginChat):
        who = f"chat:{origin.sender_chat.id}"
    elif isinstance(origin, MessageOriginChannel):
        who = f"channel:{origin.chat.id}"
    else:
        who = f"other:{origin.type}"
    post = origin.message_id if isinstance(origin, MessageOriginChannel) else None
    return json.dumps({"who": who, "date": origin.date.timestamp(), "post": post})


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


def _refuse_now(d: Edge, user_id: int) -> bool:
    """True at most once per REFUSAL_INTERVAL for each stranger."""
    now = time.monotonic()
    if now - d.refused.get(user_id, -REFUSAL_INTERVAL) < REFUSAL_INTERVAL:
        return False
    d.refused[user_id] = now
    return True


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drop redelivered updates and strangers before any other handler runs."""
    d = edge_of(context)
    if not d.app.updates.first_sight(update.update_id):
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    if d.access.allows(user.id if user else None, chat.id if chat else None):
        return
    message = update.effective_message
    if (
        message is not None
        and user is not None
        and update.edited_message is None
        and (
            update.callback_query is not None
            or _addressed(message, context.bot.username, context.bot.id)
        )
        and _refuse_now(d, user.id)
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
    """Hand a message's text to the application: a paste, a link or a follow-up question."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    text = clean(_strip_mention(message.text or message.caption or "", context.bot.username))
    reply = message.reply_to_message
    incoming = IncomingText(
        chat_id=message.chat_id,
        user_id=user.id,
        message_id=message.message_id,
        text=text,
        addressed=_addressed(message, context.bot.username, context.bot.id),
        reply_to=reply.message_id if reply else None,
        origin=origin_of(message.forward_origin) if message.forward_origin else None,
    )
    await app_of(context).texts.receive(incoming)


async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited piece of a paste still arriving replaces its text; other edits are ignored.

    Re-running a question or a digest for every fixed typo would spend tokens twice and
    leave two answers in the chat; the user can simply send it again.
    """
    message, user = update.edited_message, update.effective_user
    if message is None or user is None:
        return
    text = clean(_strip_mention(message.text or message.caption or "", context.bot.username))
    if text and app_of(context).pastes.replace(message.chat_id, user.id, message.message_id, text):
        return
    log.debug("ignored an edit of message %s in chat %s", message.message_id, message.chat_id)


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest the replied-to text, the command's own text, or the paste in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    app = app_of(context)
    reply = message.reply_to_message
    own_text = clean((message.text or "").partition(" ")[2].strip())
    linked = app.memory.article_of_message(message.chat_id, reply.message_id) if reply else None
    collecting = [f.message_id for f in app.pastes.fragments.of(message.chat_id, user.id)]
    # Alone, or in reply to a piece still being collected: that paste, at once.
    alone = reply is None and not own_text
    if app.pastes.pending(message.chat_id, user.id) and (
        alone or (reply is not None and reply.message_id in collecting)
    ):
        await app.pastes.flush_now(message.chat_id, user.id)
    elif reply is not None and linked is not None:
        # A fragment, status, error or digest of a stored article: digest that article again.
        await app.intake.retry(message.chat_id, user.id, linked, reply_to=reply.message_id)
    elif reply is not None and (reply.text or reply.caption):
        text = clean(reply.text or reply.caption or "")
        await app.intake.start_digest(message.chat_id, user.id, text, reply_to=reply.message_id)
    elif own_text:
        await app.intake.start_digest(
            message.chat_id, user.id, own_text, reply_to=message.message_id
        )
    elif not await app.pastes.flush_now(message.chat_id, user.id):
        await message.reply_text("Reply /digest to a message with the article, or paste one.")


async def new_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Forget the current article and any paste in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    app = app_of(context)
    app.pastes.discard(message.chat_id, user.id)
    app.memory.set_current_article(message.chat_id, None)
    await message.reply_text("Done. Paste a new article whenever you like.")


async def articles_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the chat's recent articles as buttons."""
    message = update.effective_message
    if message is None:
        return
    app = app_of(context)
    recent = app.service.recent_articles(chat_scope(message.chat_id), limit=8)
    if not recent:
        await message.reply_text("No articles yet. Paste one to begin.")
        return
    current = app.memory.current_article(message.chat_id)
    buttons = [
        [
            InlineKeyboardButton(
                ("✓ " if a.id == current else "") + render.display_title(a.text, 60),
                callback_data=f"a:{a.id}",
            )
        ]
        for a in recent
    ]
    await message.reply_text(
        "Recent articles. Pick one to ask about it:", reply_markup=InlineKeyboardMarkup(buttons)
    )


async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the current digest as Markdown and JSON files (``/export register``: the register)."""
    message = update.effective_message
    if message is None:
        return
    if context.args and context.args[0].lower() == "register":
        await desk_commands.export_register(context, message)
        return
    article_id = app_of(context).memory.current_article(message.chat_id)
    if article_id is None:
        await message.reply_text("There is no current article to export yet.")
        return
    await _export(context, message.chat_id, article_id, ("md", "json"))


async def usage_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the tokens this user spent today and the quota."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    app = app_of(context)
    used = app.service.usage_today(account_of(user.id))
    quota = app.quota.limit
    limit = f"of your {quota:,} daily tokens" if quota else "tokens (no daily limit)"
    await message.reply_text(f"Today you have used {used:,} {limit}. Counts reset at 00:00 UTC.")


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop the digest running in this chat and say which one it was."""
    message = update.effective_message
    if message is None:
        return
    stopped_reading = app_of(context).reading.cancel_reading(message.chat_id)
    article = app_of(context).runner.cancel(message.chat_id)
    if article is None:
        await message.reply_text(
            "Stopped reading that file or page; send it again when you want it."
            if stopped_reading
            else "Nothing is running right now."
        )
        return
    sent = await message.reply_text(
        f"Stopped the digest of “{render.display_title(article.text, 60)}”. "
        "Your article is saved: press Retry.",
        reply_markup=retry_keyboard(article.id),
    )
    app_of(context).memory.link_messages(message.chat_id, [sent.message_id], article.id)


async def forget_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete this chat's articles, digests and questions."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    count = app_of(context).forget(message.chat_id, user.id)
    await message.reply_text(
        f"Deleted {count} article(s) of this chat with their digests and questions."
    )


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest an article sent as a file: PDF, Word .docx, .html, .txt or .md."""
    message, user = update.effective_message, update.effective_user
    document = message.document if message else None
    if message is None or user is None or document is None:
        return
    if not _addressed(message, context.bot.username, context.bot.id):
        return
    app = app_of(context)
    settings = app.service.settings
    limit = file_limit(settings)
    # A size given and too big is refused before a byte is downloaded; a size left out (as
    # Telegram may) is not taken for small: the download stops at the same cap (files.py).
    if document.file_size is not None and document.file_size > limit:
        await message.reply_text(
            f"That file is too large for me: I read files of up to {limit / 1_000_000:g} MB. "
            "Send a smaller file, a link, or the text."
        )
        return
    fetch = fetch_document(app.reading, settings, message.chat_id, document, message.message_id)
    await app.reading.start_reading(message.chat_id, user.id, fetch, reply_to=message.message_id,
                                     opening="Opening the file…")  # fmt: skip


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what can be read."""
    message = update.effective_message
    if message is not None and _addressed(message, context.bot.username, context.bot.id):
        await message.reply_text(
            "I can only read text. Paste the article's text, forward a post that has it, "
            "send a link to it, or send it as a PDF, Word (.docx), .html or .txt file."
        )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show officials or commitments, export, or switch the current article."""
    query = update.callback_query
    if query is None or query.message is None or query.data is None:
        return
    await query.answer()
    app = app_of(context)
    chat_id = query.message.chat.id
    action, _, raw_id = query.data.partition(":")
    article = app.service.article(int(raw_id), chat_scope(chat_id)) if raw_id.isdigit() else None
    if article is None:
        await context.bot.send_message(chat_id, "That article is no longer available.")
        return
    if action == "r":
        reply_to = query.message.message_id
        await app.intake.retry(chat_id, query.from_user.id, article.id, reply_to=reply_to)
        return
    if action == "v":  # a register listing's button: the article's digest again
        reply_to = query.message.message_id
        await app.intake.open_article(chat_id, query.from_user.id, article.id, reply_to=reply_to)
        return
    if action in ("m", "j"):
        await _export(context, chat_id, article.id, ("md",) if action == "m" else ("json",))
        return
    if action == "a":
        app.memory.set_current_article(chat_id, article.id)
        await context.bot.send_message(
            chat_id,
            f"Now discussing: <i>{html.escape(render.display_title(article.text))}</i>. Ask away.",
            parse_mode=ParseMode.HTML,
        )
        return
    digest = app.steps.service_for(chat_id).cached_digest(article)
    if digest is None:
        await context.bot.send_message(chat_id, "This article has not been digested yet.")
        return
    paragraphs = (
        render.officials_paragraphs(digest)
        if action == "o"
        else render.commitments_paragraphs(digest)
    )
    sent = await send_html(context.bot, chat_id, paragraphs)
    app.memory.link_messages(chat_id, sent, article.id)


async def _export(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, article_id: int, kinds: tuple[str, ...]
) -> None:
    app = app_of(context)
    article = app.service.article(article_id, chat_scope(chat_id))
    digest = app.steps.service_for(chat_id).cached_digest(article) if article else None
    if article is None or digest is None:
        await context.bot.send_message(chat_id, "That article has no digest to export yet.")
        return
    for kind in kinds:
        body = (
            render.digest_markdown(digest, render.display_title(article.text, 200))
            if kind == "md"
            else render.digest_json(digest)
        )
        await context.bot.send_document(
            chat_id,
            InputFile(body.encode("utf-8"), filename=f"digest-{article.id}.{kind}"),
            caption=f"Digest of “{render.display_title(article.text, 200)}”",
        )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an unexpected error with the update's and chat's ids (never its text), tell the chat."""
    update_id = update.update_id if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    log.error(
        "unhandled error for update %s in chat %s", update_id, chat.id if chat else None,
        exc_info=context.error,
    )  # fmt: skip
    if chat is not None:
        try:
            await context.bot.send_message(
                chat.id, "Sorry, something went wrong on my side. Please try again."
            )
        except Exception:  # the error report itself failed; it is already logged above
            log.warning("could not tell the user about the error", exc_info=True)

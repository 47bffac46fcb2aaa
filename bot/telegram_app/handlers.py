"""Update handlers: each turns one kind of update into a call on the core or on ChatWork."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Sized
from dataclasses import dataclass, field

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

from bot.core.cleaning import clean
from bot.core.desk.watch import MAX_WATCH_CHARS, watch_key
from bot.core.reading.dates import parse_since
from bot.core.service import DigestService
from bot.core.sources import find_link
from bot.telegram_app import render
from bot.telegram_app.access import AccessPolicy
from bot.telegram_app.paste import PasteCollector, looks_like_article, origin_of
from bot.telegram_app.state import WATCH_CAP, TelegramState, chat_scope, user_key
from bot.telegram_app.work import ChatWork, retry_keyboard, send_html

log = logging.getLogger(__name__)

HELP = (
    "I read long news articles for you.\n\n"
    "• Paste an article (or forward a post). Long pastes split by Telegram are joined.\n"
    "• Or send a link to it, or the file: PDF, Word (.docx), .html, .txt or .md.\n"
    "• I reply with a summary, the officials named and their commitments, each backed by "
    "a quote from the article.\n"
    "• Then ask me anything about it. Reply to an older digest to ask about that article.\n\n"
    "Across this chat's articles:\n"
    "/who <name> – the articles naming someone, with their titles and pledges\n"
    "/pledges <name> – what a person, body or city committed to, newest first\n"
    "/search <words> – find articles · /export register – the register as CSV and JSON\n"
    "Add “since 2024-03” to any of these for articles dated then or later.\n"
    "/brief – what arrived today: articles, places, new officials, pledges "
    "(/brief week: the last 7 days)\n"
    "/watch <name, place or word> – after each digest that mentions it, I tell you where "
    "(/unwatch <it> or /unwatch all · /watching lists them)\n\n"
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
    ("articles", "Recent articles in this chat"),
    ("who", "Articles naming a person"),
    ("pledges", "Commitments of a person or body"),
    ("search", "Find articles by their words"),
    ("brief", "What arrived today (or: /brief week)"),
    ("watch", "Be told when a digest mentions a name, place or word"),
    ("unwatch", "Stop watching (or: /unwatch all)"),
    ("watching", "What this chat watches"),
    ("export", "Download the digest (or: /export register)"),
    ("language", "The language digests are written in"),
    ("usage", "Tokens used today"),
    ("new", "Forget the current article"),
    ("cancel", "Stop a running digest"),
    ("forget", "Delete this chat's articles"),
]


@dataclass
class Deps:
    """Everything handlers need; kept in ``application.bot_data``."""

    service: DigestService
    state: TelegramState
    access: AccessPolicy
    pastes: PasteCollector
    work: ChatWork
    refused: dict[int, float] = field(default_factory=dict)  # stranger -> when last told


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


def _refuse_now(d: Deps, user_id: int) -> bool:
    """True at most once per REFUSAL_INTERVAL for each stranger."""
    now = time.monotonic()
    if now - d.refused.get(user_id, -REFUSAL_INTERVAL) < REFUSAL_INTERVAL:
        return False
    d.refused[user_id] = now
    return True


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
    """Collect pasted text, or answer a short follow-up question."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    chat_id = message.chat_id
    pending = d.pastes.pending(chat_id, user.id)
    if not pending and not _addressed(message, context.bot.username, context.bot.id):
        return
    text = clean(_strip_mention(message.text or message.caption or "", context.bot.username))
    if not text:
        return
    if not pending and (link := find_link(text)) is not None:
        # A message that is only a link: the page's article, digested like a paste.
        await d.work.start_link(chat_id, user.id, link, reply_to=message.message_id)
        return
    reply = message.reply_to_message
    about = d.state.article_of_message(chat_id, reply.message_id) if reply else None
    origin = origin_of(message.forward_origin) if message.forward_origin else None
    if about is not None and not pending and origin is None and not looks_like_article(text):
        # A reply to one of our messages about an article is a question about it.
        await d.work.ask(chat_id, user.id, text, reply_to=message.message_id, about=about)
        return
    # Anything else waits out the quiet period: while a paste is being collected, every
    # piece belongs to it; a lone short piece is answered as a question when it ends.
    await d.pastes.add(chat_id, user.id, message.message_id, text, origin)


async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited piece of a paste still arriving replaces its text; other edits are ignored.

    Re-running a question or a digest for every fixed typo would spend tokens twice and
    leave two answers in the chat; the user can simply send it again.
    """
    message, user = update.edited_message, update.effective_user
    if message is None or user is None:
        return
    text = clean(_strip_mention(message.text or message.caption or "", context.bot.username))
    if text and deps(context).pastes.replace(message.chat_id, user.id, message.message_id, text):
        return
    log.debug("ignored an edit of message %s in chat %s", message.message_id, message.chat_id)


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest the replied-to text, the command's own text, or the paste in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    reply = message.reply_to_message
    own_text = clean((message.text or "").partition(" ")[2].strip())
    linked = d.state.article_of_message(message.chat_id, reply.message_id) if reply else None
    collecting = [f.message_id for f in d.state.fragments(message.chat_id, user.id)]
    # Alone, or in reply to a piece still being collected: that paste, at once.
    alone = reply is None and not own_text
    if d.pastes.pending(message.chat_id, user.id) and (
        alone or (reply is not None and reply.message_id in collecting)
    ):
        await d.pastes.flush_now(message.chat_id, user.id)
    elif reply is not None and linked is not None:
        # A fragment, status, error or digest of a stored article: digest that article again.
        await d.work.retry(message.chat_id, user.id, linked, reply_to=reply.message_id)
    elif reply is not None and (reply.text or reply.caption):
        text = clean(reply.text or reply.caption or "")
        await d.work.start_digest(message.chat_id, user.id, text, reply_to=reply.message_id)
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
        await _export_register(context, message)
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
    """Stop the digest running in this chat and say which one it was."""
    message = update.effective_message
    if message is None:
        return
    stopped_reading = deps(context).work.cancel_reading(message.chat_id)
    article = deps(context).work.cancel(message.chat_id)
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
    deps(context).state.link_messages(message.chat_id, [sent.message_id], article.id)


async def forget_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete this chat's articles, digests and questions."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    d = deps(context)
    d.work.cancel_chat(message.chat_id)
    d.pastes.discard(message.chat_id, user.id)
    d.state.forget_chat(message.chat_id)
    count = d.service.forget(chat_scope(message.chat_id))
    await message.reply_text(
        f"Deleted {count} article(s) of this chat with their digests and questions."
    )


TELEGRAM_DOWNLOAD_BYTES = 20_000_000  # the most the Bot API lets a bot download (getFile)


def file_limit(d: Deps) -> int:
    return min(d.service.settings.fetch_max_bytes, TELEGRAM_DOWNLOAD_BYTES)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Digest an article sent as a file: PDF, Word .docx, .html, .txt or .md."""
    message, user = update.effective_message, update.effective_user
    document = message.document if message else None
    if message is None or user is None or document is None:
        return
    if not _addressed(message, context.bot.username, context.bot.id):
        return
    d = deps(context)
    limit = file_limit(d)
    # A size given and too big is refused before a byte is downloaded; a size left out (as
    # Telegram may) is not taken for small: the download stops at the same cap (work.py).
    if document.file_size is not None and document.file_size > limit:
        await message.reply_text(
            f"That file is too large for me: I read files of up to {limit / 1_000_000:g} MB. "
            "Send a smaller file, a link, or the text."
        )
        return
    await d.work.start_document(message.chat_id, user.id, document, reply_to=message.message_id)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what can be read."""
    message = update.effective_message
    if message is not None and _addressed(message, context.bot.username, context.bot.id):
        await message.reply_text(
            "I can only read text. Paste the article's text, forward a post that has it, "
            "send a link to it, or send it as a PDF, Word (.docx), .html or .txt file."
        )


# --- the register: who said and pledged what across the chat's articles -------------------


def _words(context: ContextTypes.DEFAULT_TYPE) -> str:
    return clean(" ".join(context.args or [])).strip()


_SINCE = re.compile(r"(?is)(.*\S)\s+since\s+(\S+)")


async def _query(message: Message, words: str) -> tuple[str, str | None] | None:
    """A register query and its trailing "since <date>" (ISO: 2024, 2024-03, 2024-03-12);
    None when the date is not one (the user has been told, in one line)."""
    match = _SINCE.fullmatch(words)
    if match is None:
        return words, None
    try:
        return match[1], parse_since(match[2])
    except ValueError as error:
        await message.reply_text(f"{error}.")
        return None


def _since_text(since: str | None) -> str:
    return f" since {since}" if since else ""


async def who_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chat's articles that name a person, with the title each gives and their pledges."""
    message = update.effective_message
    if message is None:
        return
    name = _words(context)
    if not name:
        await message.reply_text(
            "Send /who and a name, e.g. /who Xu Xiaoxiong (or /who Xu Xiaoxiong since 2024-03)."
        )
        return
    if (query := await _query(message, name)) is None:
        return
    name, since = query
    mentions = deps(context).service.who(name, [chat_scope(message.chat_id)], since)
    if not mentions:
        await message.reply_text(
            f"No one called “{name}”{_since_text(since)} in this chat's digested articles."
        )
        return
    heading = f"“{render.shorten(name, 60)}” in {_count(mentions, 'article')}{_since_text(since)}"
    await _send_pages(context, message, render.pack_entries(heading, render.who_entries(mentions)))


async def pledges_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Commitments of a person, body or city in the chat's articles, newest first."""
    message = update.effective_message
    if message is None:
        return
    actor = _words(context)
    if not actor:
        await message.reply_text(
            "Send /pledges and who made them, e.g. /pledges Xu Xiaoxiong or /pledges Zhaoqing."
        )
        return
    if (query := await _query(message, actor)) is None:
        return
    actor, since = query
    pledges = deps(context).service.pledges(actor, [chat_scope(message.chat_id)], since)
    if not pledges:
        await message.reply_text(
            f"No commitments by “{actor}”{_since_text(since)} in this chat's digested articles."
        )
        return
    heading = f"Commitments by “{render.shorten(actor, 60)}”{_since_text(since)} "
    heading += f"({len(pledges)}), newest first"
    await _send_pages(
        context, message, render.pack_entries(heading, render.pledge_entries(pledges))
    )


async def search_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chat's articles that have every word, best match first."""
    message = update.effective_message
    if message is None:
        return
    words = _words(context)
    if not words:
        await message.reply_text("Send /search and some words, e.g. /search die-casting summit.")
        return
    if (query := await _query(message, words)) is None:
        return
    words, since = query
    found = deps(context).service.search(words, [chat_scope(message.chat_id)], since)
    if not found:
        await message.reply_text(f"No article{_since_text(since)} in this chat has “{words}”.")
        return
    heading = f"{_count(found, 'article').capitalize()} with “{render.shorten(words, 60)}”"
    heading += _since_text(since)
    await _send_pages(context, message, render.pack_entries(heading, render.found_entries(found)))


async def brief_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What arrived in the chat today (``/brief week``: the last 7 days; ``/brief since
    <date>``), from the register: no model call. One line when nothing did."""
    message = update.effective_message
    if message is None:
        return
    words = _words(context).lower() or "today"
    period = words.removeprefix("since").strip()
    if period != words:  # "/brief since 2024-03-01"
        try:
            parse_since(period)
        except ValueError as error:
            await message.reply_text(f"{error}.")
            return
    elif period not in ("today", "week"):
        await message.reply_text(
            "Send /brief for today, /brief week for the last 7 days, or /brief since 2024-03-01."
        )
        return
    scope = chat_scope(message.chat_id)
    brief = await asyncio.to_thread(deps(context).service.brief, scope, period)
    await _send_pages(context, message, render.brief_pages(brief))


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def open_keyboard(articles: list[tuple[int, str]]) -> InlineKeyboardMarkup | None:
    """One button per article, which shows its digest again."""
    if not articles:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(f"Open: {render.shorten(title, 40)}", callback_data=f"v:{i}")]
            for i, title in articles
        ]
    )


async def _send_pages(
    context: ContextTypes.DEFAULT_TYPE, message: Message, pages: list[render.Page]
) -> None:
    for index, page in enumerate(pages):
        await context.bot.send_message(
            message.chat_id,
            page.html,
            parse_mode=ParseMode.HTML,
            reply_markup=open_keyboard(page.articles),
            reply_to_message_id=message.message_id if index == 0 else None,
            allow_sending_without_reply=True,
        )


async def _export_register(context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
    """The chat's register as a CSV and a JSON document."""
    d = deps(context)
    scopes = [chat_scope(message.chat_id)]
    data = {kind: d.service.export_register(scopes, kind) for kind in ("csv", "json")}
    if not json_rows(data["json"]):
        await message.reply_text("The register is empty: digest an article first.")
        return
    for kind, body in data.items():
        await context.bot.send_document(
            message.chat_id,
            InputFile(body.encode("utf-8"), filename=f"register.{kind}"),
            caption=f"The register of this chat ({kind.upper()}): officials and commitments",
        )


def json_rows(body: str) -> bool:
    return body.strip() not in ("", "[]")


# --- the watchlist ---------------------------------------------------------------------------


async def watch_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Add a watch: after each new digest that mentions it, the chat hears where."""
    message = update.effective_message
    if message is None:
        return
    watch = " ".join(_words(context).split())
    key = watch_key(watch)
    if not key or len(watch) > MAX_WATCH_CHARS:
        await message.reply_text(
            "Send /watch and a name, place or word (at most "
            f"{MAX_WATCH_CHARS} characters), e.g. /watch Xu Xiaoxiong or /watch die-casting. "
            "After each digest that mentions it, I tell you where, with the quote."
        )
        return
    d = deps(context)
    added = d.state.add_watch(message.chat_id, watch, key)
    if added == "full":
        text = (
            f"This chat already watches {WATCH_CAP} things, the most it can: "
            "remove one with /unwatch first (/watching lists them)."
        )
    elif added == "exists":
        text = f"This chat already watches “{watch}”."
    else:
        text = f"Watching “{watch}”: after each digest that mentions it, I tell you where."
    await message.reply_text(text)


async def unwatch_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remove a watch, or every watch with ``/unwatch all``."""
    message = update.effective_message
    if message is None:
        return
    watch = " ".join(_words(context).split())
    d = deps(context)
    if not watch_key(watch):
        await message.reply_text("Send /unwatch and what to stop watching, or /unwatch all.")
        return
    if watch.lower() == "all":
        count = d.state.clear_watches(message.chat_id)
        plural = "watch" if count == 1 else "watches"
        await message.reply_text(
            f"Stopped {count} {plural}." if count else "This chat watches nothing."
        )
        return
    if d.state.remove_watch(message.chat_id, watch_key(watch)):
        await message.reply_text(f"Stopped watching “{watch}”.")
    else:
        await message.reply_text(
            f"This chat does not watch “{watch}”; /watching lists what it does."
        )


async def watching_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chat's watches."""
    message = update.effective_message
    if message is None:
        return
    watches = deps(context).state.watches(message.chat_id)
    if not watches:
        await message.reply_text("This chat watches nothing yet: /watch and a name, place or word.")
        return
    lines = "\n".join(f"• {w}" for w in watches)
    await message.reply_text(f"This chat watches ({len(watches)} of {WATCH_CAP}):\n{lines}")


# --- the chat's language --------------------------------------------------------------------

# A language's name: letters in up to four words, with hyphens, apostrophes or parentheses
# ("Chinese (Simplified)"). It goes into the prompts, so nothing else is taken.
_LANGUAGE = re.compile(r"[^\W\d_]+(?:[-' ][^\W\d_]+){0,3}(?: \([^\W\d_]+(?: [^\W\d_]+)?\))?")


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set (or show) the language of the chat's digests and answers."""
    message = update.effective_message
    if message is None:
        return
    d = deps(context)
    default = d.service.language
    wanted = " ".join(_words(context).split())
    if not wanted:
        current = d.state.language(message.chat_id)
        note = "" if current else " (the default)"
        await message.reply_text(
            f"I write digests and answers in this chat in {current or default}{note}. "
            "Change it with /language and a name, e.g. /language French."
        )
        return
    if len(wanted) > 40 or not _LANGUAGE.fullmatch(wanted):
        await message.reply_text(
            "Send /language and the name of a language, e.g. /language French."
        )
        return
    name = " ".join(w[:1].upper() + w[1:] for w in wanted.split(" "))
    reset = name.lower() in ("default", "reset") or name.lower() == default.lower()
    d.state.set_language(message.chat_id, None if reset else name)
    await message.reply_text(
        f"From now on I write digests and answers in this chat in {default if reset else name}. "
        "Digests made before stay as they are; reply /digest to one to have it rewritten."
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
    if action == "r":
        reply_to = query.message.message_id
        await d.work.retry(chat_id, query.from_user.id, article.id, reply_to=reply_to)
        return
    if action == "v":  # a register listing's button: the article's digest again
        reply_to = query.message.message_id
        await d.work.open_article(chat_id, query.from_user.id, article.id, reply_to=reply_to)
        return
    if action in ("m", "j"):
        await _export(context, chat_id, article.id, ("md",) if action == "m" else ("json",))
        return
    if action == "a":
        d.state.set_current_article(chat_id, article.id)
        await context.bot.send_message(
            chat_id,
            f"Now discussing: <i>{html.escape(render.display_title(article.text))}</i>. Ask away.",
            parse_mode=ParseMode.HTML,
        )
        return
    digest = d.work.service_for(chat_id).cached_digest(article)
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
    digest = d.work.service_for(chat_id).cached_digest(article) if article else None
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

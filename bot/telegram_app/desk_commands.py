"""The desk's commands: who said and pledged what across the chat's articles (/who, /pledges,
/search, /brief, /export register), the watchlist (/watch, /unwatch, /watching) and the
chat's language (/language), read from the register with no model call; and /ask, a
question across the chat's articles, answered by the model as a queued job."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sized

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.app.memory import chat_scope
from bot.app.watchlist import WATCH_CAP
from bot.core.service import MAX_WATCH_CHARS, clean, parse_since, watch_key
from bot.telegram_app import render
from bot.telegram_app.edge import app_of

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
    mentions = app_of(context).service.desk.who(name, [chat_scope(message.chat_id)], since)
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
    pledges = app_of(context).service.desk.pledges(actor, [chat_scope(message.chat_id)], since)
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
    found = app_of(context).service.desk.search(words, [chat_scope(message.chat_id)], since)
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
    brief = await asyncio.to_thread(app_of(context).service.desk.brief, scope, period)
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


async def send_pages(
    bot: Bot, chat_id: int, pages: list[render.Page], reply_to: int | None
) -> list[int]:
    """A listing's messages, each with a button per article it names; their ids."""
    sent = []
    for index, page in enumerate(pages):
        message = await bot.send_message(
            chat_id,
            page.html,
            parse_mode=ParseMode.HTML,
            reply_markup=open_keyboard(page.articles),
            reply_to_message_id=reply_to if index == 0 else None,
            allow_sending_without_reply=True,
        )
        sent.append(message.message_id)
    return sent


async def _send_pages(
    context: ContextTypes.DEFAULT_TYPE, message: Message, pages: list[render.Page]
) -> None:
    await send_pages(context.bot, message.chat_id, pages, message.message_id)


async def export_register(context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
    """The chat's register as a CSV and a JSON document."""
    app = app_of(context)
    scopes = [chat_scope(message.chat_id)]
    data = {kind: app.service.desk.export(scopes, kind) for kind in ("csv", "json")}
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


# --- a question across the chat's articles ------------------------------------------------


async def ask_all(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/ask <question>``: answered from all of the chat's articles, each line with its quote
    and its article (``Intake.ask``: a job, its cost weighed against the quota)."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    question = _words(context)
    if not question:
        await message.reply_text(
            "Send /ask and a question, e.g. /ask Who else signed with Voltaris? I answer from "
            "all of this chat's articles, each line with its quote and its article."
        )
        return
    await app_of(context).intake.ask(
        message.chat_id, user.id, question, reply_to=message.message_id, across=True
    )


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
    app = app_of(context)
    added = app.watchlist.add_watch(message.chat_id, watch, key)
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
    app = app_of(context)
    if not watch_key(watch):
        await message.reply_text("Send /unwatch and what to stop watching, or /unwatch all.")
        return
    if watch.lower() == "all":
        count = app.watchlist.clear_watches(message.chat_id)
        plural = "watch" if count == 1 else "watches"
        await message.reply_text(
            f"Stopped {count} {plural}." if count else "This chat watches nothing."
        )
        return
    if app.watchlist.remove_watch(message.chat_id, watch_key(watch)):
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
    watches = app_of(context).watchlist.watches(message.chat_id)
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
    app = app_of(context)
    default = app.service.language
    wanted = " ".join(_words(context).split())
    if not wanted:
        current = app.memory.language(message.chat_id)
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
    app.memory.set_language(message.chat_id, None if reset else name)
    await message.reply_text(
        f"From now on I write digests and answers in this chat in {default if reset else name}. "
        "Digests made before stay as they are; reply /digest to one to have it rewritten."
    )

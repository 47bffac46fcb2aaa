"""The feed commands (issue 22): ``/follow <RSS or Atom URL>``, ``/unfollow <URL or number>``,
``/following``. The application (``bot.app.feeds``) reads and polls the feeds; here they are
asked for and listed. They work in private chats, groups and, posted by an administrator, in
a channel the bot administers (a channel has no user: its digests count against its own id).
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.core.service import clean
from bot.telegram_app import render
from bot.telegram_app.edge import app_of

_MESSAGE_CHARS = 4000  # under Telegram's 4096, whatever the feeds' titles


def _argument(context: ContextTypes.DEFAULT_TYPE) -> str:
    return clean(" ".join(context.args or [])).strip()


async def follow_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Follow a feed: it is read once now (a bad address is one line), then polled. Runs as
    its own task (``block=False``): reading a slow feed must not hold up other chats."""
    message = update.effective_message
    if message is None:
        return
    url = _argument(context)
    if not url:
        await message.reply_text(
            "Send /follow and the address of an RSS or Atom feed, e.g. "
            "/follow https://example.org/news/rss.xml: I digest each new item here."
        )
        return
    user = update.effective_user
    follower = user.id if user is not None else message.chat_id  # a channel: itself
    line = await app_of(context).feeds.follow(message.chat_id, follower, url)
    await message.reply_text(line)


async def unfollow_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop following a feed, by its address or its number in /following."""
    message = update.effective_message
    if message is None:
        return
    which = _argument(context)
    if not which:
        await message.reply_text(
            "Send /unfollow and the feed's address or its number in /following."
        )
        return
    gone = await app_of(context).feeds.unfollow(message.chat_id, which)
    if gone is None:
        await message.reply_text(
            "This chat does not follow that feed; /following lists the ones it does."
        )
        return
    await message.reply_text(f"Stopped following “{render.shorten(gone.name, 80)}”.")


async def following_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The chat's feeds, numbered, each with its last problem if it has one."""
    message = update.effective_message
    if message is None:
        return
    app = app_of(context)
    feeds = await app.feeds.following(message.chat_id)
    if not feeds:
        await message.reply_text(
            "This chat follows no feed yet: /follow and the address of an RSS or Atom feed."
        )
        return
    lines = [f"This chat follows {len(feeds)} of {app.feeds.cap} feeds:"]
    for feed in feeds:
        line = f"{feed.number}. {render.shorten(feed.name, 80)} — {render.shorten(feed.url, 120)}"
        if feed.last_error:
            line += f"\n   ⚠ {render.shorten(feed.last_error, 160)}"
        lines.append(line)
    lines.append("/unfollow and a number stops one.")
    await _send_lines(message, lines)


async def _send_lines(message: Message, lines: list[str]) -> None:
    """As few messages as fit, cut between lines."""
    page: list[str] = []
    for line in lines:
        if page and sum(len(p) + 1 for p in page) + len(line) > _MESSAGE_CHARS:
            await message.reply_text("\n".join(page))
            page = []
        page.append(line)
    await message.reply_text("\n".join(page))

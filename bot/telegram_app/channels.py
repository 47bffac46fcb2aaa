"""Posts of a channel the bot administers (issue 22): each post long enough to be an article is
digested into that channel's register, and the digest is posted in the channel in reply to it.

Short posts (announcements, links, chatter) are left alone: a channel is a stream of posts,
not a conversation with the bot, so nothing in it is taken for a question. A channel has no
user: its digests count against the channel's own id. An edited post is digested again only
if its text differs from the article it gave (Telegram sends an edit for a change of
formatting alone, and every digest costs tokens); then the new text is a new article with its
own digest, and the old one stays in the register. A post too short to digest before and an
article after its edit is digested then.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.app.memory import chat_scope
from bot.app.pastes import looks_like_article
from bot.core.service import clean
from bot.telegram_app.edge import app_of

log = logging.getLogger(__name__)


async def on_channel_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A new or edited channel post: digest it if it is an article (and, edited, changed)."""
    post = update.channel_post or update.edited_channel_post
    if post is None:
        return
    text = clean(post.text or post.caption or "").strip()
    if not looks_like_article(text):
        return
    app = app_of(context)
    channel = post.chat_id
    if update.edited_channel_post is not None:
        article_id = app.memory.article_of_message(channel, post.message_id)
        if article_id is not None:
            scope = chat_scope(channel)
            article = await asyncio.to_thread(app.service.article, article_id, scope)
            if article is not None and article.text.strip() == text:
                log.debug("edit of post %s in channel %s leaves its text as it was",
                          post.message_id, channel)  # fmt: skip
                return
    await app.intake.start_digest(channel, channel, text, reply_to=post.message_id)

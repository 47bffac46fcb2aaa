"""What a chat remembers across restarts and replicas: its current article, its language,
and which message is about which article (so a reply to a digest asks about that article).

Chats, users and messages are plain ids; ``chat_scope`` names a chat to the core: the scope
its articles are stored under.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.app.tables import install
from bot.core.storage.store import Store


def chat_scope(chat_id: int) -> str:
    return f"chat:{chat_id}"


class ChatMemory:
    """A chat's current article, language and message links, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        install(store)

    def forget_chat(self, chat_id: int) -> None:
        """Drop the chat's paste in progress and current article; its articles go with the
        core's ``forget``, its language and watches stay."""
        with self.store.transaction():
            self.store.execute("DELETE FROM tg_fragments WHERE chat_id = ?", (chat_id,))
            self.store.execute("DELETE FROM tg_chats WHERE chat_id = ?", (chat_id,))

    # --- the chat's language -------------------------------------------------------------

    def language(self, chat_id: int) -> str | None:
        """The language the chat chose with /language, or None for the bot's default."""
        row = self.store.execute(
            "SELECT language FROM tg_chat_languages WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def set_language(self, chat_id: int, language: str | None) -> None:
        """Keep the chat's language; None goes back to the default."""
        if language is None:
            self.store.execute("DELETE FROM tg_chat_languages WHERE chat_id = ?", (chat_id,))
            return
        self.store.execute(
            "INSERT INTO tg_chat_languages (chat_id, language) VALUES (?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language",
            (chat_id, language),
        )

    # --- current article and message links -----------------------------------------------

    def current_article(self, chat_id: int) -> int | None:
        row = self.store.execute(
            "SELECT current_article_id FROM tg_chats WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def set_current_article(self, chat_id: int, article_id: int | None) -> None:
        self.store.execute(
            "INSERT INTO tg_chats VALUES (?, ?) ON CONFLICT (chat_id) "
            "DO UPDATE SET current_article_id = excluded.current_article_id",
            (chat_id, article_id),
        )

    def link_messages(self, chat_id: int, message_ids: Sequence[int], article_id: int) -> None:
        for message_id in message_ids:
            self.store.execute(
                "INSERT INTO tg_messages VALUES (?, ?, ?) ON CONFLICT (chat_id, message_id) "
                "DO UPDATE SET article_id = excluded.article_id",
                (chat_id, message_id, article_id),
            )

    def article_of_message(self, chat_id: int, message_id: int) -> int | None:
        row = self.store.execute(
            "SELECT article_id FROM tg_messages WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        ).fetchone()
        return int(row[0]) if row else None

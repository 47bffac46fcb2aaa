"""Who may use the bot: deny by default; ``*`` must be written out to allow everyone."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.errors import ConfigError
from bot.core.settings import Settings


def _ids(raw: str, setting: str) -> frozenset[int]:
    ids = set()
    for part in raw.replace(";", ",").split(","):
        if part := part.strip():
            try:
                ids.add(int(part))
            except ValueError:
                raise ConfigError(
                    f"{setting} must list numeric Telegram IDs separated by commas, "
                    f"or '*'; got {part!r}"
                ) from None
    return frozenset(ids)


@dataclass(frozen=True)
class AccessPolicy:
    everyone: bool
    users: frozenset[int]
    chats: frozenset[int]

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        raw_users = settings.allowed_users.strip()
        everyone = raw_users == "*"
        users = frozenset() if everyone else _ids(raw_users, "BOT_ALLOWED_USERS")
        return cls(everyone, users, _ids(settings.allowed_chats, "BOT_ALLOWED_CHATS"))

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        if self.everyone:
            return True
        return (user_id is not None and user_id in self.users) or (
            chat_id is not None and chat_id in self.chats
        )

    @property
    def nobody(self) -> bool:
        return not self.everyone and not self.users and not self.chats

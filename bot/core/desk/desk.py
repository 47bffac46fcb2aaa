"""The register's desk: digests filed into the register, and what readers ask of it.

The front door (``bot.core.service``) holds one ``Desk`` as ``service.desk``; the register
commands, which need no model, open one alone (``service.open_desk``). Every read is of the
register, in SQL: no model call. A digest that cannot be filed while the database is away
waits in the store's spool and is filed when it answers again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from bot.core.cleaning import clean
from bot.core.desk.brief import Brief, build_brief, period_of
from bot.core.errors import DatabaseUnavailable
from bot.core.reading.bilingual import family_name_reads, spells
from bot.core.reading.matching import CJK
from bot.core.schemas import Digest
from bot.core.storage.register import (
    Register,
    RegisteredCommitment,
    RegisteredOfficial,
    RegisterHit,
)
from bot.core.storage.store import Store, StoredArticle

_SPOOLED = "register"  # the spool's kind for a digest waiting to be filed
Line = TypeVar("Line", RegisteredOfficial, RegisteredCommitment)


def _newest(lines: Iterable[Line], limit: int) -> list[Line]:
    """Register lines as the register orders them: newest date first, then newest article."""
    return sorted(lines, key=lambda line: (line.date, line.article_id), reverse=True)[:limit]


class Desk:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.register = Register(store)
        store.spool.on(_SPOOLED, self._replay)

    def record(self, article: StoredArticle, digest: Digest) -> None:
        """Put the digest in the register; with the database away it waits in the spool."""
        try:
            self.register.record(article, digest)
        except DatabaseUnavailable as error:
            payload = {"article_id": article.id, "scope": article.scope,
                       "digest": digest.model_dump_json()}  # fmt: skip
            self.store.spool.keep(_SPOOLED, str(article.id), payload, str(error))

    def _replay(self, payload: dict[str, Any]) -> None:
        article = self.store.article(payload["article_id"], payload["scope"])
        if article is not None:  # forgotten meanwhile: nothing to file
            self.register.record(article, Digest.model_validate_json(payload["digest"]))

    def waiting(self, article: StoredArticle) -> str | None:
        """Why the article's digest waits in the spool, or None when it is filed."""
        kept = self.store.spool.find(_SPOOLED, str(article.id))
        if kept is None:
            return None
        return kept.reason or "the database is not answering"

    def who(
        self, name: str, scopes: list[str], since: str | None = None, limit: int = 20
    ) -> list[RegisteredOfficial]:
        """Articles naming the person, newest first; a Chinese name also by its pinyin."""
        name = clean(name)
        found = self.register.who(name, scopes, limit, since)
        for written in self._in_characters(name, "official", scopes, since):
            found += self.register.who(written, scopes, limit, since)
        return _newest({(m.article_id, m.name): m for m in found}.values(), limit)

    def pledges(
        self, actor: str, scopes: list[str], since: str | None = None, limit: int = 50
    ) -> list[RegisteredCommitment]:
        """Every pledge of the person, body or place, newest first; a Chinese one by pinyin."""
        actor = clean(actor)
        found = self.register.pledges(actor, scopes, limit, since)
        for written in self._in_characters(actor, "commitment", scopes, since):
            found += self.register.pledges(written, scopes, limit, since)
        unique = {(p.article_id, p.actor, p.commitment, p.quote): p for p in found}
        return _newest(unique.values(), limit)

    def _in_characters(
        self, typed: str, kind: str, scopes: list[str], since: str | None
    ) -> list[str]:
        """The register's Chinese names that ``typed``, in pinyin, names: the whole name or
        two of its characters or more ("Zhou Qihang", "Qihang" for 周启航; "Lanjiang" for
        澜江市), or an official's family name, its first character ("Zhou")."""
        if not typed.isascii() or not typed.strip():
            return []
        return [
            name
            for name in self.register.names(kind, scopes, since)
            if CJK.search(name)
            and (spells(typed, name) or (kind == "official" and family_name_reads(typed, name)))
        ]

    def search(self, words: str, scopes: list[str], since: str | None = None) -> list[RegisterHit]:
        return self.register.search(clean(words), scopes, since=since)

    def export(self, scopes: list[str], fmt: str = "json") -> str:
        """The scopes' register as CSV or JSON."""
        return self.register.export(scopes, fmt)

    def brief(self, scope: str, period: str = "today") -> Brief:
        """What arrived in the scope ``today``, in the last ``week`` or since a date (ValueError
        for anything else), assembled from the register (``bot.core.desk.brief``)."""
        return build_brief(self.store, scope, period_of(period))

    def close(self) -> None:
        """Close the store of a desk opened alone; a service's desk closes with the service."""
        self.store.close()

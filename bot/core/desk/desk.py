"""The register's desk: digests filed into the register, and what readers ask of it.

The front door (``bot.core.service``) holds one ``Desk`` as ``service.desk``; the register
commands, which need no model, open one alone (``service.open_desk``). Every read is of the
register, in SQL: no model call. A digest that cannot be filed while the database is away
waits in the store's spool and is filed when it answers again.
"""

from __future__ import annotations

from typing import Any

from bot.core.cleaning import clean
from bot.core.desk.brief import Brief, build_brief, period_of
from bot.core.errors import DatabaseUnavailable
from bot.core.schemas import Digest
from bot.core.storage.register import (
    Register,
    RegisteredCommitment,
    RegisteredOfficial,
    RegisterHit,
)
from bot.core.storage.store import Store, StoredArticle

_SPOOLED = "register"  # the spool's kind for a digest waiting to be filed


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
        self, name: str, scopes: list[str], since: str | None = None
    ) -> list[RegisteredOfficial]:
        return self.register.who(clean(name), scopes, since=since)

    def pledges(
        self, actor: str, scopes: list[str], since: str | None = None
    ) -> list[RegisteredCommitment]:
        return self.register.pledges(clean(actor), scopes, since=since)

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

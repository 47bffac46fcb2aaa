"""The register: who was named and who pledged what, across every digested article.

Every grounded official and commitment of a digest is kept with its article, date and quote
(its own tables in the store, migrated as the "register" component). A line's date is the
article's: the date it reports (``bot.core.reading.dates``), else the day it arrived;
"since" filters on that date in SQL (a month-only date counts from its month's start:
"2024-03" is on or after "2024-03" but not after "2024-03-12"). Names are found with the
store's full-text search (SQLite FTS5) by word prefixes, so a surname alone or a shortened
name ("Yang Qing") finds the full name ("Yang Qingbing"), the way the digest merges them.
Every query is limited to the scopes the caller may see: a chat sees only its own articles.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass

from bot.core.schemas import Digest
from bot.core.storage.database import Dialect, Migration, postgres_ddl
from bot.core.storage.store import ARTICLE_DAY, Store, StoredArticle

_TABLES = """
    CREATE TABLE reg_officials (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        title TEXT NOT NULL,
        organization TEXT NOT NULL,
        quote TEXT NOT NULL
    );
    CREATE INDEX reg_officials_by_article ON reg_officials (article_id);
    CREATE TABLE reg_commitments (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        actor TEXT NOT NULL,
        commitment TEXT NOT NULL,
        deadline TEXT,
        quote TEXT NOT NULL
    );
    CREATE INDEX reg_commitments_by_article ON reg_commitments (article_id);
"""
# Full-text search: FTS5 on SQLite; a generated tsvector with a GIN index on PostgreSQL
# ('simple': names and mixed-language text, no stemming).
_SQLITE_SEARCH = """
    CREATE VIRTUAL TABLE reg_names USING fts5 (
        name, kind UNINDEXED, row_id UNINDEXED, article_id UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE reg_articles USING fts5 (
        title, text, article_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER reg_articles_gone AFTER DELETE ON articles BEGIN
        DELETE FROM reg_names WHERE article_id = old.id;
        DELETE FROM reg_articles WHERE article_id = old.id;
    END;
"""
_POSTGRES_SEARCH = """
    CREATE TABLE reg_names (
        name TEXT NOT NULL, kind TEXT NOT NULL, row_id BIGINT NOT NULL,
        article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED
    );
    CREATE INDEX reg_names_tsv ON reg_names USING gin (tsv);
    CREATE INDEX reg_names_by_article ON reg_names (article_id);
    CREATE TABLE reg_articles (
        article_id BIGINT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
        title TEXT NOT NULL, text TEXT NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' ' || text)) STORED
    );
    CREATE INDEX reg_articles_tsv ON reg_articles USING gin (tsv);
"""
REGISTER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        sqlite=_TABLES + _SQLITE_SEARCH,
        postgres=postgres_ddl(_TABLES) + _POSTGRES_SEARCH,
    ),
)

_WORD = re.compile(r"\w+", re.UNICODE)
# Every word the way PostgreSQL's parser splits it ("N.C." stays one word), each a prefix.
_PG_QUERY = (
    "(SELECT to_tsquery('simple', string_agg(quote_literal(lexeme) || ':*', ' & ')) "
    "FROM unnest(to_tsvector('simple', ?)))"
)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class RegisteredOfficial:
    """One article naming a person, with the title that article gives and their pledges."""

    name: str
    title: str
    organization: str
    quote: str
    article_id: int
    article_title: str
    date: str
    pledges: tuple[str, ...]
    basis: str = "arrived"  # where the date comes from: "event", "published" or "arrived"


@dataclass(frozen=True)
class RegisteredCommitment:
    actor: str
    commitment: str
    deadline: str | None
    quote: str
    article_id: int
    article_title: str
    date: str
    basis: str = "arrived"


@dataclass(frozen=True)
class RegisterHit:
    article_id: int
    title: str
    date: str
    snippet: str
    basis: str = "arrived"


def person_key(column: str) -> str:
    """SQL: the key one person (or place) has across articles, from the name in ``column``:
    trimmed and lower-cased, so "Xu Xiaoxiong" in two articles is one person. Both databases
    fold ASCII alike; a name written differently ("Yang Qing") is another key, as in ``who``
    only a search would join them."""
    return f"LOWER(TRIM({column}))"


def match_query(words: str, dialect: Dialect = "sqlite") -> str | None:
    """A full-text query: every word as a prefix, all required; None when nothing is searchable.

    A run of CJK has no spaces and is one token to both engines, so a CJK name matches as a
    prefix of that run ("杨" finds "杨清兵").
    """
    tokens = _WORD.findall(words)
    if not tokens:
        return None
    if dialect == "postgres":  # parsed by PostgreSQL's own parser: see _PG_QUERY
        return words.strip()
    return " AND ".join('"' + t.replace('"', "") + '"*' for t in tokens)


class Register:
    """Reads and writes the register tables; the service is its only caller."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("register", REGISTER_MIGRATIONS)

    def record(self, article: StoredArticle, digest: Digest) -> None:
        """Keep the digest's grounded officials and commitments; again replaces, never doubles."""
        with self.store.transaction():
            self.store.execute("DELETE FROM reg_names WHERE article_id = ?", (article.id,))
            self.store.execute("DELETE FROM reg_officials WHERE article_id = ?", (article.id,))
            self.store.execute("DELETE FROM reg_commitments WHERE article_id = ?", (article.id,))
            self.store.execute("DELETE FROM reg_articles WHERE article_id = ?", (article.id,))
            self.store.execute(
                "INSERT INTO reg_articles (title, text, article_id) VALUES (?, ?, ?)",
                (article.title, article.text, article.id),
            )
            for o in digest.officials:
                row = self.store.execute(
                    "INSERT INTO reg_officials (article_id, name, title, organization, quote) "
                    "VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (article.id, o.name, o.title, o.organization, o.quote),
                ).fetchone()
                self._index(article.id, o.name, "official", int(row[0]))
            for c in digest.commitments:
                row = self.store.execute(
                    "INSERT INTO reg_commitments (article_id, actor, commitment, deadline, quote) "
                    "VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (article.id, c.actor, c.commitment, c.deadline, c.quote),
                ).fetchone()
                self._index(article.id, c.actor, "commitment", int(row[0]))

    def _index(self, article_id: int, name: str, kind: str, row_id: int) -> None:
        self.store.execute(
            "INSERT INTO reg_names (name, kind, row_id, article_id) VALUES (?, ?, ?, ?)",
            (name, kind, row_id, article_id),
        )

    def _named(self, words: str, kind: str) -> tuple[str, tuple[object, ...]] | None:
        """The condition on ``reg_names`` finding ``words`` among names of ``kind``, with its
        parameters; None when nothing in ``words`` is searchable.

        It goes into the same statement as the scope filter: collecting every chat's matches
        first and filtering them after made one query parameter per match, which a large
        register elsewhere pushes past the database's limit (SQLite: 32,766).
        """
        query = match_query(words, self.store.dialect)
        if query is None:
            return None
        if _CJK.search(words):  # word parsers differ on CJK (and by locale): substrings
            tokens = _WORD.findall(words)
            likes = " AND ".join("reg_names.name LIKE ?" for _ in tokens)
            return f"{likes} AND reg_names.kind = ?", (*(f"%{t}%" for t in tokens), kind)
        return f"{self._matches('reg_names')} AND reg_names.kind = ?", (query, kind)

    def who(
        self, name: str, scopes: list[str], limit: int = 20, since: str | None = None
    ) -> list[RegisteredOfficial]:
        """Articles naming the person, newest first, with that article's title and pledges;
        ``since`` (ISO year, month or day) keeps articles dated then or later."""
        named = self._named(name, "official")
        if named is None or not scopes:
            return []
        condition, params = named
        rows = self.store.execute(
            f"SELECT o.*, a.title AS article_title, {ARTICLE_DAY} AS day, a.date_basis "
            "FROM reg_names JOIN reg_officials o ON o.id = reg_names.row_id "
            f"JOIN articles a ON a.id = o.article_id WHERE {condition} "
            f"AND a.scope IN ({_marks(scopes)}){_since(since)} "
            f"ORDER BY day DESC, a.id DESC LIMIT ?",
            (*params, *scopes, *_since_params(since), limit),
        ).fetchall()
        mentions = []
        for r in rows:
            pledges = self.store.execute(
                "SELECT commitment FROM reg_commitments WHERE article_id = ? AND actor = ? "
                "ORDER BY id",
                (r["article_id"], r["name"]),
            ).fetchall()
            mentions.append(
                RegisteredOfficial(
                    r["name"],
                    r["title"],
                    r["organization"],
                    r["quote"],
                    r["article_id"],
                    r["article_title"],
                    r["day"],
                    tuple(p["commitment"] for p in pledges),
                    r["date_basis"],
                )
            )
        return mentions

    def names(
        self, kind: str, scopes: list[str], since: str | None = None, limit: int = 5000
    ) -> list[str]:
        """The distinct names of ``kind`` ("official" or "commitment": its actor) in these
        scopes, for a match the full-text index cannot make (a name typed in pinyin)."""
        if not scopes:
            return []
        # From the tables indexed by article (the search table is not): another chat's large
        # register is never scanned.
        table, column = (
            ("reg_officials", "name") if kind == "official" else ("reg_commitments", "actor")
        )
        rows = self.store.execute(
            f"SELECT DISTINCT r.{column} AS name FROM articles a "
            f"JOIN {table} r ON r.article_id = a.id "
            f"WHERE a.scope IN ({_marks(scopes)}){_since(since)} LIMIT ?",
            (*scopes, *_since_params(since), limit),
        ).fetchall()
        return [str(r["name"]) for r in rows]

    def pledges(
        self, actor: str, scopes: list[str], limit: int = 50, since: str | None = None
    ) -> list[RegisteredCommitment]:
        """Every commitment by a person, body or city, newest first, each with its quote;
        ``since`` keeps those of articles dated then or later."""
        named = self._named(actor, "commitment")
        if named is None or not scopes:
            return []
        condition, params = named
        rows = self.store.execute(
            f"SELECT c.*, a.title AS article_title, {ARTICLE_DAY} AS day, a.date_basis "
            "FROM reg_names JOIN reg_commitments c ON c.id = reg_names.row_id "
            f"JOIN articles a ON a.id = c.article_id WHERE {condition} "
            f"AND a.scope IN ({_marks(scopes)}){_since(since)} "
            "ORDER BY day DESC, a.id DESC, c.id DESC LIMIT ?",
            (*params, *scopes, *_since_params(since), limit),
        ).fetchall()
        return [
            RegisteredCommitment(
                r["actor"],
                r["commitment"],
                r["deadline"],
                r["quote"],
                r["article_id"],
                r["article_title"],
                r["day"],
                r["date_basis"],
            )
            for r in rows
        ]

    def search(
        self, words: str, scopes: list[str], limit: int = 10, since: str | None = None
    ) -> list[RegisterHit]:
        """Digested articles whose text has every word, best match first (dated ``since``)."""
        query = match_query(words, self.store.dialect)
        if query is None or not scopes:
            return []
        if _CJK.search(words):  # a run of CJK is one token to both engines: match substrings
            return self._search_cjk(_WORD.findall(words), scopes, limit, since)
        if self.store.dialect == "sqlite":
            snippet, rank = "snippet(reg_articles, 1, '', '', '…', 12)", "rank"
        else:
            snippet = f"ts_headline('simple', reg_articles.text, {_PG_QUERY}, "
            snippet += '\'StartSel="",StopSel="",MaxWords=14,MinWords=6\')'
            rank = f"ts_rank(reg_articles.tsv, {_PG_QUERY}) DESC"
        extra = () if self.store.dialect == "sqlite" else (query,)
        rows = self.store.execute(
            f"SELECT a.id, a.title, {ARTICLE_DAY} AS day, a.date_basis, {snippet} AS snippet "
            "FROM reg_articles JOIN articles a ON a.id = reg_articles.article_id "
            f"WHERE {self._matches('reg_articles')} "
            f"AND a.scope IN ({_marks(scopes)}){_since(since)} ORDER BY {rank} LIMIT ?",
            (*extra, query, *scopes, *_since_params(since), *extra, limit),
        ).fetchall()
        return [
            RegisterHit(r["id"], r["title"], r["day"], r["snippet"], r["date_basis"]) for r in rows
        ]

    def _matches(self, table: str) -> str:
        """The full-text condition on ``table`` for one query parameter."""
        if self.store.dialect == "sqlite":
            return f"{table} MATCH ?"
        return f"{table}.tsv @@ {_PG_QUERY}"

    def _search_cjk(
        self, words: list[str], scopes: list[str], limit: int, since: str | None
    ) -> list[RegisterHit]:
        likes = " AND ".join("r.text LIKE ?" for _ in words)
        rows = self.store.execute(
            f"SELECT a.id, a.title, {ARTICLE_DAY} AS day, a.date_basis, r.text "
            f"FROM reg_articles r JOIN articles a ON a.id = r.article_id WHERE {likes} "
            f"AND a.scope IN ({_marks(scopes)}){_since(since)} ORDER BY a.id DESC LIMIT ?",
            (*(f"%{w}%" for w in words), *scopes, *_since_params(since), limit),
        ).fetchall()
        found = []
        for r in rows:
            at = max(str(r["text"]).find(words[0]), 0)
            snippet = str(r["text"])[max(at - 20, 0) : at + 40].replace("\n", " ")
            found.append(
                RegisterHit(r["id"], r["title"], r["day"], f"…{snippet}…", r["date_basis"])
            )
        return found

    def export(self, scopes: list[str], fmt: str = "json") -> str:
        """The whole register of these scopes as JSON or CSV (one row per official or pledge)."""
        if not scopes:
            return "[]" if fmt == "json" else ""
        marks = _marks(scopes)
        officials = self.store.execute(
            "SELECT 'official' AS kind, o.name AS who, o.title AS what, o.organization AS detail, "
            f"o.quote, a.id AS article_id, a.title AS article_title, {ARTICLE_DAY} AS date FROM "
            f"reg_officials o JOIN articles a ON a.id = o.article_id WHERE a.scope IN ({marks})",
            tuple(scopes),
        ).fetchall()
        pledges = self.store.execute(
            "SELECT 'commitment' AS kind, c.actor AS who, c.commitment AS what, "
            "COALESCE(c.deadline, '') AS detail, c.quote, a.id AS article_id, "
            f"a.title AS article_title, {ARTICLE_DAY} AS date FROM reg_commitments c "
            f"JOIN articles a ON a.id = c.article_id WHERE a.scope IN ({marks})",
            tuple(scopes),
        ).fetchall()
        rows = [dict(r) for r in [*officials, *pledges]]
        rows.sort(key=lambda r: (r["article_id"], r["kind"] != "official"))
        if fmt == "json":
            return json.dumps(rows, ensure_ascii=False, indent=2)
        out = io.StringIO()
        fields = ["kind", "who", "what", "detail", "quote", "article_id", "article_title", "date"]
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def as_dict(item: RegisteredOfficial | RegisteredCommitment | RegisterHit) -> dict[str, object]:
    return asdict(item)


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)


def _since(since: str | None) -> str:
    """The condition keeping articles dated ``since`` or later (ISO strings sort as dates)."""
    return f" AND {ARTICLE_DAY} >= ?" if since else ""


def _since_params(since: str | None) -> tuple[str, ...]:
    return (since,) if since else ()

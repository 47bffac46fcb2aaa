"""The register across articles: who, pledges, search, export; and who may see what."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from bot.core.desk.desk import Desk
from bot.core.reading.chunking import CountTokens
from bot.core.reading.grounding import ground_drafts
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.storage.register import Register, match_query
from bot.core.storage.store import Store
from tests.conftest import process_env
from tests.fakes.gold_model import CORPUS, commitment_drafts, load, official_drafts
from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]


def _gold_digest(slug: str, count_tokens: CountTokens) -> tuple[str, Digest, dict[str, object]]:
    article, gold = load(slug, count_tokens)
    officials, commitments, _ = ground_drafts(
        article, official_drafts(article, gold), commitment_drafts(article, gold)
    )
    digest = Digest(summary="", key_points=[], officials=officials, commitments=commitments)
    return article.text, digest, gold


def test_the_whole_corpus_is_findable_by_name_surname_and_actor(
    store: Store, count_tokens: CountTokens
) -> None:
    register = Register(store)
    digests = {}
    for slug in CORPUS:
        text, digest, gold = _gold_digest(slug, count_tokens)
        article = store.save_article("chat:1", text, slug)
        register.record(article, digest)
        register.record(article, digest)  # again: replaced, never doubled
        digests[slug] = (article.id, digest, gold)
    for slug, (article_id, digest, _) in digests.items():
        for official in digest.officials:
            found = [
                m for m in register.who(official.name, ["chat:1"]) if m.article_id == article_id
            ]
            assert len(found) == 1, (slug, official.name)
            assert (found[0].title, found[0].organization) == (
                official.title,
                official.organization,
            )
            mine = {c.commitment for c in digest.commitments if c.actor == official.name}
            assert set(found[0].pledges) == mine
            surname = official.name.split()[-1] if " " in official.name else official.name[:1]
            assert article_id in {m.article_id for m in register.who(surname, ["chat:1"])}
        for pledge in digest.commitments:
            hits = register.pledges(pledge.actor, ["chat:1"])
            assert any(h.article_id == article_id and h.quote == pledge.quote for h in hits), (
                slug,
                pledge.actor,
                len(hits),
            )
    zhaoqing = digests["zhaoqing-die-casting-summit"][0]
    # The article calls Yang Qingbing "Yang Qing" once: the shortened name finds him.
    assert zhaoqing in {m.article_id for m in register.who("Yang Qing", ["chat:1"])}
    assert zhaoqing in {f.article_id for f in register.search("die casting", ["chat:1"])}
    lanjiang = digests["lanjiang-project-signing-zh"][0]
    assert lanjiang in {f.article_id for f in register.search("澜江", ["chat:1"])}


def test_a_chat_sees_only_its_own_articles(store: Store, count_tokens: CountTokens) -> None:
    """Two users and a group: each register holds only its own chat's articles."""
    register = Register(store)
    text, digest, _ = _gold_digest("zhaoqing-die-casting-summit", count_tokens)
    alice = store.save_article("chat:1", text, "alice's")
    register.record(alice, digest)
    text2, digest2, _ = _gold_digest("nc-governor-rural-grants", count_tokens)
    group = store.save_article("chat:-100", text2, "the group's")
    register.record(group, digest2)
    name, other = digest.officials[0].name, digest2.officials[0].name
    assert register.who(name, ["chat:1"]) and not register.who(name, ["chat:2"])
    assert not register.who(name, ["chat:-100"]) and not register.who(other, ["chat:1"])
    assert register.who(other, ["chat:-100"])
    assert not register.search("die casting", ["chat:2"])
    assert not register.pledges(digest.commitments[0].actor, ["chat:2"])
    assert json.loads(register.export(["chat:2"])) == []
    rows = json.loads(register.export(["chat:1"]))
    assert {r["article_id"] for r in rows} == {alice.id}


def test_export_as_csv_and_json(store: Store, count_tokens: CountTokens) -> None:
    register = Register(store)
    text, digest, _ = _gold_digest("uk-northern-connectivity-fund", count_tokens)
    register.record(store.save_article("cli", text, "uk"), digest)
    rows = list(csv.DictReader(io.StringIO(register.export(["cli"], "csv"))))
    assert len(rows) == len(digest.officials) + len(digest.commitments)
    assert {r["kind"] for r in rows} == {"official", "commitment"}
    assert all(r["quote"] in text for r in rows)
    assert len(json.loads(register.export(["cli"], "json"))) == len(rows)


def test_queries_are_safe_for_fts() -> None:
    assert match_query('Xu "Xiaoxiong') == '"Xu"* AND "Xiaoxiong"*'
    assert match_query(" - ; ") is None


def test_a_deleted_article_leaves_the_register(store: Store, count_tokens: CountTokens) -> None:
    register = Register(store)
    text, digest, _ = _gold_digest("zhaoqing-die-casting-summit", count_tokens)
    article = store.save_article("chat:1", text, "z")
    register.record(article, digest)
    store.execute("DELETE FROM articles WHERE id = ?", (article.id,))
    assert not register.who(digest.officials[0].name, ["chat:1"])
    assert not register.search("die casting", ["chat:1"])


async def test_digests_fill_the_register_and_the_cli_reads_it(
    service: DigestService, llm_server: FakeOpenAIServer, article_text: str, tmp_path: Path
) -> None:
    digest = await service.digest(service.save_article("cli", article_text))
    assert service.desk.who("Xu Xiaoxiong", ["cli"])[0].title == next(
        o.title for o in digest.officials if o.name == "Xu Xiaoxiong"
    )
    env = process_env(service.settings.data_dir, llm_server)
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}  # no model needed
    done = await _digestbot(["who", "Xu", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert any(m["name"] == "Xu Xiaoxiong" for m in json.loads(done.stdout))
    none = await _digestbot(["pledges", "Nobody Atall"], env, tmp_path)
    assert none.returncode == 1 and "Nothing in the register" in none.stdout


async def _digestbot(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bot", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=cwd, capture_output=True, text=True, check=False
    )


def test_register_lines_carry_the_reported_date_and_filter_on_it(
    store: Store, count_tokens: CountTokens
) -> None:
    """The date of a line is the article's (its arrival only when it gives none); "since"
    filters on it in SQL, on both backends."""
    register = Register(store)
    text, digest, _ = _gold_digest("zhaoqing-die-casting-summit", count_tokens)
    actor = digest.commitments[0].actor
    official = digest.officials[0].name
    march = store.save_article(
        "chat:1", text, "march", reported_date="2024-03-28", date_basis="event"
    )
    register.record(march, digest)
    february = store.save_article(
        "chat:1", text + "\nAgain.", "february", reported_date="2024-02", date_basis="published"
    )
    register.record(february, digest)
    undated = store.save_article("chat:1", text + "\nOnce more.", "undated")
    register.record(undated, digest)

    lines = register.pledges(actor, ["chat:1"])
    by_article = {p.article_id: (p.date, p.basis) for p in lines}
    assert by_article[march.id] == ("2024-03-28", "event")
    assert by_article[february.id] == ("2024-02", "published")
    assert by_article[undated.id] == (undated.created_at[:10], "arrived")
    assert [p.article_id for p in lines][-2:] == [march.id, february.id]  # newest first

    since = {p.article_id for p in register.pledges(actor, ["chat:1"], since="2024-03")}
    assert since == {march.id, undated.id}  # undated: counted by its arrival (today)
    assert {m.article_id for m in register.who(official, ["chat:1"], since="2024-02")} == {
        march.id,
        february.id,
        undated.id,
    }
    assert register.who(official, ["chat:1"], since="2999") == []
    assert {m.date for m in register.who(official, ["chat:1"])} >= {"2024-03-28", "2024-02"}
    found = register.search("die casting", ["chat:1"], since="2024-03-01")
    assert {f.article_id for f in found} == {march.id, undated.id}
    exported = json.loads(register.export(["chat:1"]))
    assert {r["date"] for r in exported} >= {"2024-03-28", "2024-02"}


def test_a_chinese_name_is_found_by_its_pinyin(store: Store, count_tokens: CountTokens) -> None:
    """A Chinese release keeps its names in characters (市委书记周启航, 澜江市); an analyst
    types them as English press writes them: "Zhou Qihang", "Qihang", the family name "Zhou",
    "Lanjiang". Another chat's register stays out of it."""
    desk = Desk(store)
    text, digest, _ = _gold_digest("lanjiang-project-signing-zh", count_tokens)
    desk.record(store.save_article("chat:1", text, "lanjiang"), digest)
    for typed in ("Zhou Qihang", "zhou qihang", "Qihang", "Zhou"):
        assert [m.title for m in desk.who(typed, ["chat:1"]) if m.name == "周启航"] == [
            "市委书记"
        ], typed
    assert {m.name for m in desk.who("Lin Xiaofeng", ["chat:1"])} == {"林晓峰"}
    assert not desk.who("Zhou Qihang", ["chat:2"])
    assert not desk.who("Qiang", ["chat:1"])  # a syllable inside a name is not the name
    assert {p.actor for p in desk.pledges("Lanjiang", ["chat:1"])} == {"澜江市", "澜江"}
    assert not desk.pledges("Lanzhou", ["chat:1"])
    # Written in characters, the name is found as before.
    assert {m.name for m in desk.who("周启航", ["chat:1"])} == {"周启航"}

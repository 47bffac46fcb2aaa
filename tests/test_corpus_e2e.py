"""Every corpus article, digested end to end by a model that always answers right.

The real ``openai`` client, the real digest path (``DigestService``, and ``digestbot digest``
in a subprocess) and the fake server playing OpenAI (strict ``json_schema``) and llama.cpp's
server (``json_object`` with a grammar). The model is ``tests/fakes/gold_model.py``: it knows
the reference answers, so every right official and title must come out, under both profiles
alike, and no reporter, organisation or invented person may (issue 8's "Done when", on the
shared corpus).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.evaluation import score_digest
from bot.core.reading.chunking import CountTokens
from bot.core.schemas import Digest
from bot.core.service import DigestService
from bot.core.settings import Settings
from tests.conftest import DATA, make_settings, process_env
from tests.fakes.gold_model import CORPUS, GoldModel, fold
from tests.fakes.openai_server import FakeOpenAIServer, Profile

PROFILES: tuple[Profile, ...] = ("openai", "llamacpp")


async def _digest(tmp_path: Path, fake: FakeOpenAIServer, profile: Profile, text: str) -> Digest:
    service = DigestService.from_settings(make_settings(tmp_path / profile, fake, server=profile))
    try:
        return await service.digest(service.save_article("e2e", text), use_cache=False)
    finally:
        await service.aclose()


def _roles(digest: Digest) -> dict[str, tuple[str, str]]:
    return {o.name: (o.title, o.organization) for o in digest.officials}


@pytest.mark.parametrize("slug", CORPUS)
async def test_both_profiles_find_every_official_with_the_right_title(
    slug: str, tmp_path: Path, count_tokens: CountTokens
) -> None:
    text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
    gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    digests: dict[Profile, Digest] = {}
    for profile in PROFILES:
        model = GoldModel(count_tokens, slugs=[slug])
        with FakeOpenAIServer(model, count_tokens=count_tokens, profile=profile) as fake:
            digests[profile] = await _digest(tmp_path, fake, profile, text)
            formats = {(r.body or {}).get("response_format", {}).get("type") for r in fake.requests}
        assert model.seen and set(model.seen) == {slug}
        if profile == "openai":
            assert formats == {"json_schema"}, formats

    assert _roles(digests["openai"]) == _roles(digests["llamacpp"])
    for profile, digest in digests.items():
        score = score_digest(digest, text, gold)
        where = f"{slug} on {profile}"
        assert score["missed_officials"] == [], where
        assert score["titles_right"] == score["officials_expected"], (where, score["wrong_titles"])
        assert (score["invented_people"], score["reporters_listed"], score["other_people"]) == (
            [],
            [],
            [],
        ), where
        listed = {fold(o.name) for o in digest.officials}
        assert not listed & {fold(p["name"]) for p in gold.get("not_officials", [])}, where
        assert score["commitments_matched"] >= 0.8 * score["commitments_expected"], where


def test_the_cli_digests_a_corpus_article_through_a_strict_server(
    tmp_path: Path, count_tokens: CountTokens
) -> None:
    slug = "uk-northern-connectivity-fund"
    gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    model = GoldModel(count_tokens, slugs=[slug])
    with FakeOpenAIServer(model, count_tokens=count_tokens, profile="openai") as fake:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "digest", str(DATA / f"{slug}.txt"), "--json"],
            env=process_env(tmp_path, fake, BOT_SERVER="openai"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert {r.body["response_format"]["type"] for r in fake.requests if r.body} == {
            "json_schema"
        }
    listed = {fold(o["name"]) for o in json.loads(done.stdout)["officials"]}
    assert listed == {fold(o["name"]) for o in gold["officials"]}


async def test_a_long_article_read_in_parts_under_both_profiles(
    tmp_path: Path, count_tokens: CountTokens
) -> None:
    slug = "hunan-manufacturing-conference-long"
    text = (DATA / f"{slug}.txt").read_text(encoding="utf-8")
    gold = json.loads((DATA / f"{slug}.gold.json").read_text(encoding="utf-8"))
    digests = {}
    for profile in PROFILES:
        with FakeOpenAIServer(GoldModel(count_tokens, slugs=[slug]), count_tokens=count_tokens,
                              profile=profile) as fake:  # fmt: skip
            settings = make_settings(tmp_path / profile, fake, server=profile, chunk_tokens=2000)
            service = DigestService.from_settings(settings)
            try:
                digests[profile] = await service.digest(service.save_article("e2e", text))
            finally:
                await service.aclose()
        assert digests[profile].stats.chunks > 1
        score = score_digest(digests[profile], text, gold)
        assert score["missed_officials"] == [] and score["wrong_titles"] == [], profile
        assert score["commitments_matched"] == score["commitment_actors_right"] == 31, profile
    assert _roles(digests["openai"]) == _roles(digests["llamacpp"])


# --- the digest's language ---------------------------------------------------------------------

ZH = "lanjiang-project-signing-zh"
ZH_TITLES = {"市委书记": "Party Secretary", "市长": "Mayor", "副市长": "Vice Mayor"}


def _system_prompts(fake: FakeOpenAIServer) -> list[str]:
    return [
        m["content"]
        for r in fake.requests
        for m in (r.body or {}).get("messages", [])
        if m["role"] == "system"
    ]


async def test_a_chinese_article_is_digested_in_english_unless_asked_otherwise(
    tmp_path: Path, count_tokens: CountTokens
) -> None:
    text = (DATA / f"{ZH}.txt").read_text(encoding="utf-8")
    model = GoldModel(count_tokens, slugs=[ZH], translations=ZH_TITLES)
    with FakeOpenAIServer(model, count_tokens=count_tokens) as fake:
        service = DigestService.from_settings(make_settings(tmp_path, fake))
        try:
            article = service.save_article("chat", text)
            english = await service.digest(article)
            asked = len(fake.requests)
            assert all("in English" in p for p in _system_prompts(fake))
            french = service.in_language("French")
            assert french.language == "French" and service.language == "English"
            assert french.cached_digest(article) is None  # a digest per language
            await french.digest(article)
            await french.ask(article, "澜江市市长是谁？")
            assert all("in French" in p for p in _system_prompts(fake)[asked:])
            assert "in French" in fake.requests[-1].body["messages"][-1]["content"]
            again = service.cached_digest(article)
            assert again is not None and again.officials == english.officials
        finally:
            await service.aclose()
    # Names as the article writes them, and the article's own title words kept checkable.
    gold = json.loads((DATA / f"{ZH}.gold.json").read_text(encoding="utf-8"))
    roles = _roles(english)
    assert set(roles) == {o["name"] for o in gold["officials"]}
    assert "市委书记" in roles["周启航"][0]


def test_the_language_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).digest_language == "English"
    monkeypatch.setenv("BOT_DIGEST_LANGUAGE", "Deutsch")
    assert Settings(_env_file=None).digest_language == "Deutsch"


async def test_a_translated_title_keeps_the_original_beside_it(
    tmp_path: Path, count_tokens: CountTokens
) -> None:
    text = (DATA / f"{ZH}.txt").read_text(encoding="utf-8")
    model = GoldModel(count_tokens, slugs=[ZH], translations=ZH_TITLES)
    with FakeOpenAIServer(model, count_tokens=count_tokens) as fake:
        digest = await _digest(tmp_path, fake, "openai", text)
    assert _roles(digest)["周启航"][0] == "Party Secretary (市委书记)"

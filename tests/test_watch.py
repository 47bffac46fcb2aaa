"""The watchlist (issue 22): matching in the core, storage on both backends, and the alert
after a digest in Telegram, sent once across restarts and replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.app.jobs import JobQueue
from bot.app.steps import JobSteps
from bot.app.watchlist import Watchlist
from bot.core.desk.watch import Watched, find_hits, mentions, watch_key
from bot.core.reading.chunking import Sentence
from bot.core.schemas import Commitment, Digest, Official
from bot.core.settings import Settings
from bot.core.storage.store import Store
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_api import FakeTelegramServer
from tests.test_telegram_bot import digest_messages, running
from tests.test_telegram_paths import deps_of
from tests.test_telegram_register import (  # noqa: F401  (fixtures)
    ALICE,
    BOB,
    command,
    digest,
    model,
    riverton_library,
    tg,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
ALERT = "👁 Your watchlist in:"

# --- matching ------------------------------------------------------------------------------


def _sentences(*texts: str) -> list[Sentence]:
    return [Sentence(i + 1, 0, len(t), 0, t, 10) for i, t in enumerate(texts)]


def _digest() -> Digest:
    return Digest(
        summary="s",
        key_points=[],
        officials=[
            Official(
                name="Jörg Altenhöfer",
                title="Vice-President",
                organization="EIB",
                quote="said EIB Vice-President Jörg Altenhöfer.",
                sentences=[1],
            ),
            Official(
                name="Xu Xiaoxiong",
                title="Mayor",
                organization="Zhaoqing",
                quote="Mayor Xu Xiaoxiong",
                sentences=[2],
            ),
            Official(
                name="Dana Lee",
                title="councillor",
                organization="Leeds City Council",
                quote="Councillor Dana Lee of Leeds City Council",
                sentences=[3],
            ),
        ],
        commitments=[
            Commitment(
                actor="Zhaoqing",
                commitment="build a die-casting cluster",
                deadline="2025",
                quote="Zhaoqing will build a die-casting cluster by 2025.",
                sentences=[4],
            ),
        ],
    )


SENTENCES = _sentences(
    "The loan was signed, said EIB Vice-President Jörg Altenhöfer.",
    "Mayor Xu Xiaoxiong spoke.",
    "Councillor Dana Lee of Leeds City Council welcomed it.",
    "Zhaoqing will build a die-casting cluster by 2025.",
    "Casting experts met in Leeds; the die casting sector grew.",
    "Castings of bronze were shown.",
)


def _hits(watch: str) -> list[Watched]:
    return find_hits([watch], _digest(), SENTENCES)


def test_names_match_with_any_accents_case_and_by_surname() -> None:
    for watch in ("Jorg Altenhofer", "JÖRG ALTENHÖFER", "Altenhöfer", "  'altenhofer'. "):
        (found,) = _hits(watch)
        assert found.watch == watch
        assert found.hits[0].kind == "official" and found.hits[0].lead == "Jörg Altenhöfer"
        assert found.hits[0].quote == "said EIB Vice-President Jörg Altenhöfer."
        assert found.hits[0].text == " — Vice-President, EIB"
    (found,) = _hits("Mayor Xu Xiaoxiong")  # the name inside the watch
    assert [h.lead for h in found.hits] == ["Xu Xiaoxiong"]


def test_a_word_never_matches_inside_another_word() -> None:
    (found,) = _hits("Lee")
    assert [h.lead for h in found.hits] == ["Dana Lee"]  # not Leeds (sentences 3 and 5)
    assert _hits("Altenhof") == [] and _hits("cast") == []
    (found,) = _hits("casting")  # "Casting experts": a word of its own; not "die-casting"
    assert [h.quote for h in found.hits] == [SENTENCES[4].text]


def test_places_bodies_pledges_and_words_each_give_their_line_and_quote() -> None:
    (leeds,) = _hits("Leeds")
    assert [(h.kind, h.lead) for h in leeds.hits] == [("official", "Dana Lee"), ("sentence", "")]
    assert leeds.hits[1].quote == SENTENCES[4].text  # sentence 3 is Dana Lee's quote already
    (zhaoqing,) = _hits("zhaoqing")
    assert [h.kind for h in zhaoqing.hits] == ["official", "commitment"]
    pledge = zhaoqing.hits[1]
    assert pledge.lead == "Zhaoqing" and pledge.text == ": build a die-casting cluster (by 2025)"
    assert pledge.quote == "Zhaoqing will build a die-casting cluster by 2025."
    (casting,) = _hits("Die Casting")  # a space and a hyphen are the same watch
    assert [h.kind for h in casting.hits] == ["commitment", "sentence"]
    assert _hits("Voltaris") == []


def test_watch_keys_are_normalised() -> None:
    assert watch_key(" “Die-Casting”. ") == watch_key("die casting") == "die casting"
    assert watch_key("Jörg") == "jorg" and watch_key(" ... ") == ""
    assert mentions("肇庆", "肇庆市举行峰会")


def test_a_name_in_pinyin_finds_it_in_chinese_and_the_other_way_round() -> None:
    """English press writes a Chinese name in pinyin (西宁 Xining, 王海涛 Wang Haitao), so a
    watch written either way finds the other. Invented names; two characters at least, so a
    short spelling never matches one character (县 is "xian", 西安 is "Xi'an")."""
    release = "西宁市市长王海涛宣布，新能源基金年内设立。"
    assert mentions(watch_key("Xining"), release)
    assert mentions(watch_key("Wang Haitao"), release)
    assert mentions(watch_key("wang-haitao"), release)
    assert not mentions(watch_key("Lanzhou"), release)
    assert not mentions(watch_key("Xining"), "兰州市市长宣布")
    assert not mentions(watch_key("Xian"), "某县县长宣布")  # one character: not a name
    assert mentions(watch_key("Xi'an"), "西安市举行峰会")
    assert not mentions(watch_key("Hai"), release)  # a syllable alone is not a watch's name
    # A watch in characters finds the name in an English release, as one word or two.
    assert mentions(watch_key("西宁"), "Xining's mayor announced a fund.")
    assert mentions(watch_key("王海涛"), "said Mayor Wang Haitao on Monday.")
    assert not mentions(watch_key("西宁"), "Xiningbury's mayor announced a fund.")
    assert not mentions(watch_key("王海涛"), "said Mayor Wang Haiyang.")


# --- storage, on both backends ------------------------------------------------------------


def test_watches_and_alerts_on_both_backends(store: Store) -> None:
    state = Watchlist(store)
    chat = -1001234567890
    assert state.add_watch(chat, "Die-casting", watch_key("Die-casting")) == "added"
    assert state.add_watch(chat, "die casting", watch_key("die casting")) == "exists"
    assert state.add_watch(chat + 1, "die casting", watch_key("die casting")) == "added"
    for n in range(3):
        assert state.add_watch(chat, f"w{n}", f"w{n}", cap=3) == ("added" if n < 2 else "full")
    assert state.add_watch(chat, "w0", "w0", cap=3) == "exists"
    assert state.watches(chat) == ["Die-casting", "w0", "w1"]
    assert state.remove_watch(chat, "w0") and not state.remove_watch(chat, "w0")
    assert state.clear_watches(chat) == 2 and state.watches(chat) == []
    assert state.watches(chat + 1) == ["die casting"]

    article = store.save_article(f"chat:{chat}", "Some text.", "T").id
    assert state.queue_watch_alert(chat, article) and not state.queue_watch_alert(chat, article)
    assert state.pending_watch_alerts() == [(chat, article)]
    other = Watchlist(store)  # a second replica on the same database
    assert state.claim_watch_alert(chat, article)
    assert not other.claim_watch_alert(chat, article) and not state.claim_watch_alert(chat, article)
    assert state.pending_watch_alerts() == []
    assert not state.queue_watch_alert(chat, article)  # shown again: never alerts again


def test_a_delivered_digest_queues_its_alert_in_the_same_step(store: Store) -> None:
    jobs = JobQueue(store)
    article = store.save_article("chat:1", "Some text.", "T").id
    job = jobs.create(1, 1, article, None)
    assert jobs.claim("r1", 30) is not None
    assert jobs.deliver(job, "r1", [10])
    assert Watchlist(store).pending_watch_alerts() == [(1, article)]


# --- Telegram, end to end ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, llm_server: FakeOpenAIServer,
    tg: FakeTelegramServer,  # noqa: F811
) -> Settings:  # fmt: skip
    extra: dict[str, object] = {}
    if request.param == "postgres":
        extra["database_url"] = request.getfixturevalue("postgres_url")
    return make_settings(
        tmp_path, llm_server, telegram_bot_token=tg.token, telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url, allowed_users=f"{ALICE},{BOB}",
        fragment_quiet_seconds=0.3, **extra,
    )  # fmt: skip


def alerts(server: FakeTelegramServer, chat: int) -> list[Any]:
    return [m for m in server.bot_messages(chat) if m.text.startswith(ALERT)]


async def _quiet(seconds: float = 1.5) -> None:
    """Long enough for an alert, and a poll's sweep, to have gone out if one were due."""
    await asyncio.sleep(seconds)


async def test_watched_names_and_words_are_alerted_once_with_lines_and_quotes(
    settings: Settings, tg: FakeTelegramServer, article_text: str,  # noqa: F811
) -> None:  # fmt: skip
    async with running(settings):
        (usage,) = await command(tg, ALICE, ALICE, "/watch")
        assert "/watch" in usage.text
        (added,) = await command(tg, ALICE, ALICE, "/watch Xu Xiaoxiong")
        assert added.text.startswith("Watching “Xu Xiaoxiong”")
        await command(tg, ALICE, ALICE, "/watch die-casting")
        (again,) = await command(tg, ALICE, ALICE, "/watch Die Casting")
        assert "already watches" in again.text
        await command(tg, BOB, BOB, "/watch Riverton")
        (listing,) = await command(tg, ALICE, ALICE, "/watching")
        assert "Xu Xiaoxiong" in listing.text and "die-casting" in listing.text
        assert "Riverton" not in listing.text

        # An article none of Alice's watches names: no alert, and Bob's never fire here.
        await digest(tg, ALICE, ALICE, riverton_library())
        await _quiet()
        assert alerts(tg, ALICE) == [] and alerts(tg, BOB) == []

        shown = await digest(tg, ALICE, ALICE, article_text)
        (alert,) = await tg.wait_for(lambda: alerts(tg, ALICE), timeout=10)
        assert alert.message_id > shown.message_id  # after the digest
        assert "“Xu Xiaoxiong”" in alert.text and "“die-casting”" in alert.text
        assert "• Xu Xiaoxiong" in alert.text and "— Mayor, Zhaoqing" in alert.text
        assert "Mayor Xu Xiaoxiong" in alert.text  # the article's own words
        assert "…and " in alert.text and " more" in alert.text  # die-casting is everywhere
        assert "new energy vehicle die-casting industry" in alert.text
        assert alerts(tg, BOB) == []

        # The same digest shown again (/digest in reply to it): no second alert.
        before = len(digest_messages(tg, ALICE))
        tg.user_sends_text(ALICE, ALICE, "/digest", reply_to_message_id=shown.message_id)
        await tg.wait_for(lambda: digest_messages(tg, ALICE)[before:], timeout=10)
        await _quiet()
        assert len(alerts(tg, ALICE)) == 1

        (gone,) = await command(tg, ALICE, ALICE, "/unwatch all")
        assert gone.text == "Stopped 2 watches."
        await digest(tg, ALICE, ALICE, article_text + "\n\nUpdated.")  # a new article
        await _quiet()
        assert len(alerts(tg, ALICE)) == 1


async def test_unwatch_one_stops_only_that_watch(
    settings: Settings, tg: FakeTelegramServer, article_text: str,  # noqa: F811
) -> None:  # fmt: skip
    async with running(settings):
        await command(tg, ALICE, ALICE, "/watch Xu Xiaoxiong")
        await command(tg, ALICE, ALICE, "/watch die-casting")
        (stopped,) = await command(tg, ALICE, ALICE, "/unwatch DIE-CASTING")
        assert stopped.text == "Stopped watching “DIE-CASTING”."
        (missing,) = await command(tg, ALICE, ALICE, "/unwatch Voltaris")
        assert "does not watch" in missing.text
        await digest(tg, ALICE, ALICE, article_text)
        (alert,) = await tg.wait_for(lambda: alerts(tg, ALICE), timeout=10)
        assert "“Xu Xiaoxiong”" in alert.text and "die-casting”" not in alert.text


async def test_a_restart_between_the_digest_and_its_alert_sends_it_once(
    settings: Settings, tg: FakeTelegramServer, article_text: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    async def stops_before_alerting(self: JobSteps, chat_id: int, article_id: int) -> None:
        return None

    real = JobSteps.alert_watches
    monkeypatch.setattr(JobSteps, "alert_watches", stops_before_alerting)
    async with running(settings) as app:
        await command(tg, ALICE, ALICE, "/watch Xu Xiaoxiong")
        await digest(tg, ALICE, ALICE, article_text)
        await _quiet()
        assert alerts(tg, ALICE) == []
        watchlist = deps_of(app).app.watchlist
        assert len(watchlist.pending_watch_alerts()) == 1  # queued with the delivery
    monkeypatch.setattr(JobSteps, "alert_watches", real)
    async with running(settings) as first, running(settings) as second:  # two replicas
        (alert,) = await tg.wait_for(lambda: alerts(tg, ALICE), timeout=10)
        assert "Mayor Xu Xiaoxiong" in alert.text
        await _quiet()
        assert len(alerts(tg, ALICE)) == 1
        assert deps_of(first).app.watchlist.pending_watch_alerts() == []
        assert deps_of(second).app.watchlist.pending_watch_alerts() == []

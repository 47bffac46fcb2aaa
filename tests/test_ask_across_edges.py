"""Questions across articles at both edges (issue 22): ``digestbot ask --all`` and ``/ask``.

The real CLI as a subprocess and the real python-telegram-bot against the fake Bot API, both
over HTTP to the fake model server. The model is the scripted one; asked across articles it
writes a line for every known quote it finds in the passages it is shown (under the number
it was shown), plus whatever a test adds, such as a line citing another chat's article: the
quote check must drop that, and the chat must never be shown another chat's text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application, CommandHandler

from bot.app.errors import quota_message
from bot.app.quota import account_of
from bot.cli.views import cross_answer_text
from bot.core.errors import LLMError
from bot.core.service import CrossAnswer, CrossLine, DigestService
from bot.core.settings import Settings
from bot.telegram_app import desk_commands, render
from tests import test_telegram_bot as base
from tests.conftest import make_settings, process_env
from tests.fakes.openai_server import FakeOpenAIServer, FakeReply
from tests.fakes.scripted_model import KnownPerson, ScriptedModel
from tests.fakes.telegram_api import FakeTelegramServer, parse_html
from tests.test_ask_across import blocks
from tests.test_cli import run
from tests.test_telegram_paths import button_data, deps_of
from tests.test_telegram_register import (
    ALICE,
    BOB,
    command,
    digest,
    lakeside_bridges,
    lakeside_trees,
    riverton_library,
)

tg = base.tg  # the same fixture

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
BRIDGE = "Anna Berg will repair the old stone bridge before the winter."
TREES = "Anna Berg will plant trees in every park next spring."
HARBOUR = "Anna Berg will widen the harbour crossing for cyclists by 2026."
LIBRARY = "Omar Haddad will open a library branch in the eastern district in 2026."
CLAIMS = {
    BRIDGE: "Anna Berg will repair the old stone bridge before the winter",
    TREES: "Anna Berg will plant trees in every park next spring",
    LIBRARY: "Omar Haddad will open a library branch in 2026",
}
NOT_ASKED = "What did the quantum chromodynamics panel conclude?"  # no article has these words


@dataclass
class CrossModel(ScriptedModel):
    """The scripted model; asked across articles, a line per known quote in a shown passage,
    then ``extra`` lines; ``broken`` makes the model refuse that one (an ``LLMError``)."""

    extra: list[dict[str, Any]] = field(default_factory=list)
    broken: bool = False
    across: list[str] = field(default_factory=list)  # the prompts of questions across articles

    def __call__(self, request: dict[str, Any]) -> str | FakeReply:  # type: ignore[override]
        schema = request.get("response_format", {}).get("json_schema", {}).get("name")
        if schema != "CrossAnswerDraft":
            return super().__call__(request)
        prompt = request["messages"][-1]["content"]
        self.across.append(prompt)
        if self.broken:  # the call fails, at a cost
            return FakeReply(refusal="I can't help with that.")
        lines = [
            {"article": number, "claim": claim, "quote": quote}
            for number, text in blocks(prompt).items()
            for quote, claim in CLAIMS.items()
            if quote in text
        ]
        return json.dumps({"answer": "", "lines": lines + self.extra})


@pytest.fixture
def model() -> CrossModel:
    people = [
        KnownPerson("Anna Berg", "council member", "Lakeside council"),
        KnownPerson("Omar Haddad", "Mayor", "Riverton"),
    ]
    return CrossModel(people=people)


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, llm_server: FakeOpenAIServer) -> dict[str, str]:
    return process_env(tmp_path / "data", llm_server)


def test_cli_ask_all_answers_from_two_articles_with_quotes_titles_and_dates(
    env: dict[str, str], tmp_path: Path, model: CrossModel, llm_server: FakeOpenAIServer
) -> None:
    for name, text in (("bridges.txt", lakeside_bridges()), ("library.txt", riverton_library())):
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert run(["digest", str(tmp_path / name)], env).returncode == 0
    question = "What will Anna Berg repair and what will Omar Haddad open?"
    result = run(["ask", "--all", question], env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f'"{BRIDGE}"' in out and f'"{LIBRARY}"' in out
    assert "#1 Lakeside renews its bridges" in out and "#2 Riverton opens a new library" in out
    assert "arrived 20" in out  # the date: these texts give none, so the day they arrived
    assert "2 article(s) searched, 2 shown, 1 LLM call(s)" in out
    assert len(model.across) == 1

    data = json.loads(run(["ask", "--all", question, "--json"], env).stdout)
    assert {line["article_id"] for line in data["lines"]} == {1, 2}
    assert all(line["quote"] in (BRIDGE, LIBRARY) for line in data["lines"])
    assert data["stated"] is True and len(model.across) == 2

    # Nothing in the articles: said so, with no model call at all.
    calls = len(llm_server.requests)
    none = run(["ask", "--all", NOT_ASKED], env)
    assert none.returncode == 0 and none.stdout.startswith("Not stated in your articles.")
    assert "0 LLM call(s)" in none.stdout and len(llm_server.requests) == calls

    # Used the wrong way: one line, exit 2, as argparse says it.
    both = run(["ask", "--all", "bridges.txt", question], env)
    assert both.returncode == 2 and "ask --all takes only the question" in both.stderr
    alone = run(["ask", str(tmp_path / "bridges.txt")], env)
    assert alone.returncode == 2 and "ask needs an article and a question" in alone.stderr


def test_cli_ask_all_model_failure_is_one_line_and_costs_the_user(
    env: dict[str, str], tmp_path: Path, model: CrossModel
) -> None:
    (tmp_path / "bridges.txt").write_text(lakeside_bridges(), encoding="utf-8")
    assert run(["digest", str(tmp_path / "bridges.txt")], env).returncode == 0
    model.broken = True
    result = run(["ask", "--all", "What will Anna Berg repair?"], env)
    assert result.returncode == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("digestbot: ") and "\n" not in line
    assert "CrossAnswerDraft" not in line and "http" not in line and "Traceback" not in line


async def test_service_records_what_a_question_across_articles_cost(
    tmp_path: Path, llm_server: FakeOpenAIServer, model: CrossModel
) -> None:
    settings = make_settings(tmp_path, llm_server)
    service = DigestService.from_settings(settings)
    try:
        service.save_article("s", lakeside_bridges())
        answer = await service.ask_across("What will Anna Berg repair?", "s", account="u")
        assert answer.stated and [line.quote for line in answer.lines] == [BRIDGE]
        spent = service.usage_today("u")
        assert spent == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
        model.broken = True
        with pytest.raises(LLMError):
            await service.ask_across("What will Anna Berg repair?", "s", account="u")
        assert service.usage_today("u") > spent  # a failed call's tokens were spent too
        # Nothing found: no call, nothing counted.
        spent = service.usage_today("u")
        none = await service.ask_across(NOT_ASKED, "s", account="u")
        assert not none.stated and none.usage.calls == 0 and service.usage_today("u") == spent
    finally:
        await service.aclose()


# --- Telegram --------------------------------------------------------------------------------


@pytest.fixture
def bot_settings(tmp_path: Path, llm_server: FakeOpenAIServer, tg: FakeTelegramServer) -> Settings:
    return make_settings(
        tmp_path,
        llm_server,
        telegram_bot_token=tg.token,
        telegram_base_url=tg.base_url,
        telegram_base_file_url=tg.base_file_url,
        allowed_users=f"{ALICE},{BOB}",
        fragment_quiet_seconds=0.3,
        daily_token_quota=100_000,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The bot, with /ask registered if ``build_application`` does not register it yet."""
    async with base.running(settings) as app:
        registered = [
            h for hs in app.handlers.values() for h in hs if isinstance(h, CommandHandler)
        ]
        if not any("ask" in h.commands for h in registered):
            app.add_handler(CommandHandler("ask", desk_commands.ask_all))
        yield app


def answers(tg: FakeTelegramServer, chat: int) -> list[Any]:
    return [m for m in tg.bot_messages(chat) if m.text.startswith("❓")]


async def test_ask_answers_from_the_chats_articles_only_with_a_button_per_article(
    bot_settings: Settings, tg: FakeTelegramServer, model: CrossModel
) -> None:
    # Omar Haddad's quote from Bob's article, cited as Alice's first: the check drops it.
    model.extra = [{"article": 1, "claim": CLAIMS[LIBRARY], "quote": LIBRARY}]
    async with running(bot_settings) as app:
        await digest(tg, ALICE, ALICE, lakeside_bridges())
        await digest(tg, ALICE, ALICE, lakeside_trees())
        await digest(tg, BOB, BOB, riverton_library())
        question = "/ask What will Anna Berg and Omar Haddad repair, plant or open?"
        (reply,) = await command(tg, ALICE, ALICE, question)
        text = reply.text
        assert text.startswith("❓ What will Anna Berg and Omar Haddad")
        assert BRIDGE in text and TREES in text
        assert "Lakeside renews its bridges · arrived" in text
        assert "Lakeside plants a greener town · arrived" in text
        assert "Omar" not in text.split("\n", 1)[1] and "library" not in text
        assert all("Riverton" not in prompt for prompt in model.across)
        assert any(e["type"] == "blockquote" for e in reply.entities)
        store = deps_of(app).app.service.store
        buttons = button_data(reply)
        assert len(buttons) == 2 and all(b.startswith("v:") for b in buttons)
        opened = [store.article(int(b[2:]), f"chat:{ALICE}") for b in buttons]
        assert {a.title for a in opened if a is not None} == {
            "Lakeside renews its bridges",
            "Lakeside plants a greener town",
        }
        # The button opens that article's digest.
        before = len(base.digest_messages(tg, ALICE))
        tg.user_presses_button(ALICE, ALICE, reply.message_id, buttons[0])
        await tg.wait_for(lambda: base.digest_messages(tg, ALICE)[before:], timeout=10)

        # Bob's chat: his article only; what only Alice's say is not stated, with no call.
        calls = len(model.across)
        (bob,) = await command(tg, BOB, BOB, "/ask What will be done about the bridge spans?")
        assert "Not stated in your articles." in bob.text and "Lakeside" not in bob.text
        assert button_data(bob) == [] and len(model.across) == calls
        (usage,) = await command(tg, ALICE, ALICE, "/ask")
        assert "e.g. /ask" in usage.text


async def test_a_question_with_no_current_article_is_asked_across_the_chat(
    bot_settings: Settings, tg: FakeTelegramServer, model: CrossModel
) -> None:
    async with running(bot_settings) as app:
        await digest(tg, ALICE, ALICE, lakeside_bridges())
        await digest(tg, ALICE, ALICE, riverton_library())
        await command(tg, ALICE, ALICE, "/new")
        tg.user_sends_text(ALICE, ALICE, "What will Anna Berg repair?")
        (reply,) = await tg.wait_for(lambda: answers(tg, ALICE), timeout=10)
        assert BRIDGE in reply.text and "Lakeside renews its bridges" in reply.text
        assert deps_of(app).app.memory.current_article(ALICE) is None  # still none
        used = deps_of(app).app.service.usage_today(account_of(ALICE))
        assert used > 0  # counted against the user, like any answer
        store = deps_of(app).app.service.store

        def across_jobs() -> list[tuple[str, str]]:
            rows = store.execute("SELECT kind, status FROM tg_jobs WHERE kind = 'across'")
            return [(str(r[0]), str(r[1])) for r in rows.fetchall()]

        await tg.wait_for(lambda: across_jobs() == [("across", "done")])


async def test_over_quota_is_refused_with_the_quota_line_before_the_model(
    bot_settings: Settings, tg: FakeTelegramServer, model: CrossModel
) -> None:
    async with running(bot_settings) as app:
        await digest(tg, ALICE, ALICE, lakeside_bridges())
        service = deps_of(app).app.service
        left = bot_settings.daily_token_quota - service.usage_today(account_of(ALICE))
        service.store.record_usage(account_of(ALICE), "digest", 1, left - 2000, 0)
        (reply,) = await command(tg, ALICE, ALICE, "/ask What will Anna Berg repair?")
        limit = quota_message(bot_settings.daily_token_quota).split(" It resets")[0]
        assert reply.text.startswith(limit)
        assert model.across == []


async def test_a_hostile_question_and_answer_are_shown_as_text(
    bot_settings: Settings, tg: FakeTelegramServer, model: CrossModel
) -> None:
    hostile = "<i>Anna Berg</i> & <a href='http://x'>the harbour crossing</a>"
    model.extra = [{"article": 1, "claim": hostile, "quote": HARBOUR}]
    async with running(bot_settings):
        await digest(tg, ALICE, ALICE, lakeside_bridges())
        (reply,) = await command(tg, ALICE, ALICE, "/ask <b>Anna Berg</b>\x07 &amp; bridge?")
        assert reply.text.startswith("❓ <b>Anna Berg</b> &amp; bridge?")
        assert hostile in reply.text and HARBOUR in reply.text
        assert "\x07" not in reply.text
        assert {e["type"] for e in reply.entities} <= {"bold", "italic", "blockquote"}
        (again,) = await command(tg, ALICE, ALICE, "/ask <script>Anna Berg bridge")
        assert again.text.startswith("❓ <script>Anna Berg bridge")


async def test_a_model_failure_is_its_user_line(
    bot_settings: Settings, tg: FakeTelegramServer, model: CrossModel
) -> None:
    model.broken = True
    async with running(bot_settings):
        await digest(tg, ALICE, ALICE, lakeside_bridges())
        (reply,) = await command(tg, ALICE, ALICE, "/ask What will Anna Berg repair?")
        assert reply.text.startswith("Sorry, I couldn't answer: ")
        assert "CrossAnswerDraft" not in reply.text and "http" not in reply.text


def test_a_long_answer_is_split_into_valid_messages_each_with_its_buttons() -> None:
    quote = "The council said that " + "the works & <repairs> go on, " * 60 + "to the end."
    lines = [
        CrossLine(
            claim=f"Claim {n} <b>",
            quote=quote,
            article_id=n,
            title=f"Article {n} & co",
            date=f"2026-03-0{n}",
        )
        for n in range(1, 9)
    ]
    answer = CrossAnswer(
        question="What <b>happened</b>?", answer="…", stated=True, lines=lines,
        articles_searched=12, articles_shown=list(range(1, 9)),
    )  # fmt: skip
    pages = render.cross_pages(answer)
    assert len(pages) > 1
    cited: list[int] = []
    for page in pages:
        assert len(page.html) <= render.MESSAGE_LIMIT
        text, _ = parse_html(page.html)
        cited += [article for article, _ in page.articles]
        for article, title in page.articles:
            assert f"Claim {article} <b>" in text and title in text
    assert cited == list(range(1, 9))  # every article's button, once, under its own lines
    assert parse_html(pages[0].html)[0].startswith("❓ What <b>happened</b>?")


def test_a_line_that_is_its_quote_shows_it_once() -> None:
    """A small model's lines are the article's sentences themselves: no claim above them."""
    sentence = "Orla Council will repair 14 bridges by June 2027."
    line = CrossLine(claim=sentence, quote=sentence, article_id=3, title="Orla", date="2026-05-01")
    answer = CrossAnswer(
        question="Which bridges?", answer=sentence, stated=True, lines=[line],
        articles_searched=4, articles_shown=[3],
    )  # fmt: skip
    (page,) = render.cross_pages(answer)
    assert parse_html(page.html)[0].count(sentence) == 1
    assert cross_answer_text(answer).count(sentence) == 1

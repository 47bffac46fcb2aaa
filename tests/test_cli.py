"""The real ``digestbot`` command, run as a subprocess against the fake model server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.service import DigestService, make_title
from tests.conftest import DATA, make_settings, process_env
from tests.fakes.openai_server import FakeOpenAIServer

ARTICLE = DATA / "zhaoqing-die-casting-summit.txt"


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # Run away from the checkout so a developer's own .env is never read.
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env, input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, llm_server: FakeOpenAIServer) -> dict[str, str]:
    return process_env(tmp_path / "data", llm_server)


def test_digest_json_end_to_end(env: dict[str, str], llm_server: FakeOpenAIServer) -> None:
    result = run(["digest", str(ARTICLE), "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"summary", "key_points", "officials", "commitments", "stats"} <= data.keys()
    assert len(data["officials"]) == 12
    text = ARTICLE.read_text(encoding="utf-8")
    for official in data["officials"]:
        assert {"name", "title", "organization", "quote"} <= official.keys()
        assert official["quote"] in text
    for item in data["commitments"]:
        assert {"actor", "commitment", "deadline", "quote"} <= item.keys()
        assert item["quote"] in text
    stats = data["stats"]
    assert stats["llm_calls"] == 1 and stats["chunks"] == 1
    assert {"article_tokens", "prompt_tokens", "completion_tokens", "seconds"} <= stats.keys()
    # The same article again is served from the cache: no new request.
    again = run(["digest", "-"], env, stdin=text)
    assert again.returncode == 0 and "OFFICIALS (12)" in again.stdout
    assert len(llm_server.requests) == 1


def test_ask_json(env: dict[str, str]) -> None:
    result = run(["ask", str(ARTICLE), "Who is the mayor of Zhaoqing?", "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stated"] is True and "Xu Xiaoxiong" in data["answer"]
    assert isinstance(data["quotes"], list) and data["quotes"]


def test_chat_loop(env: dict[str, str]) -> None:
    result = run(["chat", str(ARTICLE)], env, stdin="Who is the mayor of Zhaoqing?\n\n")
    assert result.returncode == 0, result.stderr
    assert "SUMMARY" in result.stdout and "Xu Xiaoxiong" in result.stdout.split("Ask about")[1]


def test_missing_key_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    result = run(["digest", str(ARTICLE)], env | {"BOT_LOCAL_MODEL": str(tmp_path / "no.gguf")})
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "OPENAI_API_KEY" in result.stderr or "BOT_LOCAL_MODEL" in result.stderr


def test_without_key_or_local_extra_both_ways_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.core.models import factory
    from bot.core.settings import Settings

    monkeypatch.setattr(factory, "llama_cpp_available", lambda: False)
    from bot.core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        factory.build_llm(Settings(_env_file=None, data_dir=tmp_path))
    assert "OPENAI_API_KEY" in str(caught.value) and ".[local]" in str(caught.value)


def test_unreachable_server_is_one_clear_line(env: dict[str, str]) -> None:
    result = run(["digest", str(ARTICLE)], env | {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.returncode == 1
    assert "cannot be reached" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert "127.0.0.1" not in result.stderr and "Traceback" not in result.stderr


def test_bad_input_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    assert "no such file" in run(["digest", str(tmp_path / "nope.txt")], env).stderr
    empty = run(["digest", "-"], env, stdin="  \n")
    assert empty.returncode == 1 and "empty" in empty.stderr
    bad = run(["digest", "-"], env | {"BOT_CHUNK_TOKENS": "lots"}, stdin="x")
    assert bad.returncode == 2 and "chunk_tokens" in bad.stderr


def test_version_and_health(env: dict[str, str]) -> None:
    version = run(["--version"], env)
    assert version.returncode == 0 and version.stdout.startswith("digestbot ")
    health = run(["health", "--check-llm"], env)
    assert health.returncode == 0, health.stdout
    assert "ok   store" in health.stdout and "ok   model server" in health.stdout
    broken = run(["health"], env | {"BOT_DATA_DIR": "/proc/forbidden"})
    assert broken.returncode == 1 and "FAIL store" in broken.stdout


def test_digest_view_says_when_an_officials_title_is_not_stated() -> None:
    from bot.cli.views import digest_text
    from bot.core.schemas import Digest, Official

    officials = [
        Official(name="Rosa Ibarra", title="", organization="Valmora Port Authority",
                 quote="Rosa Ibarra of the Valmora Port Authority spoke.", sentences=[1]),
        Official(name="Tomasz Wrona", title=" ", organization="", quote="Tomasz Wrona spoke.",
                 sentences=[2]),
    ]  # fmt: skip
    text = digest_text(Digest(summary="S", key_points=[], officials=officials, commitments=[]))
    assert "• Rosa Ibarra — title not stated, Valmora Port Authority" in text
    assert "• Tomasz Wrona — title not stated\n" in text


def test_the_digest_shows_the_reported_date_and_pledges_filter_on_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    dated = tmp_path / "dated.txt"
    text = ARTICLE.read_text(encoding="utf-8")
    head, body = text.split("\n\n", 1)
    dated.write_text(f"{head}\n\nPublished 29 March 2024\n\n{body}", encoding="utf-8")
    shown = run(["digest", str(dated)], env)
    assert shown.returncode == 0, shown.stderr
    assert "Reported: 28 March 2024" in shown.stdout  # "On March 28" of a story of the 29th
    data = json.loads(run(["digest", str(dated), "--json"], env).stdout)
    assert data["date"] == {"date": "2024-03-28", "basis": "event"}
    undated = json.loads(run(["digest", str(ARTICLE), "--json"], env).stdout)
    assert undated["date"]["date"] is None and undated["date"]["basis"] == "arrived"
    assert "Arrived: " in run(["digest", str(ARTICLE)], env).stdout

    march = run(["pledges", "Zhaoqing", "--since", "2024-03"], env)
    assert march.returncode == 0, march.stderr
    assert "2024-03-28  " in march.stdout and "arrived " in march.stdout
    later = run(["pledges", "Zhaoqing", "--since", "2999-01", "--json"], env)
    assert later.returncode == 1 and json.loads(later.stdout) == []
    bad = run(["pledges", "Zhaoqing", "--since", "March"], env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "March is not a date" in bad.stderr
    who = run(["who", "Xu Xiaoxiong", "--since", "2024-03-28"], env)
    assert who.returncode == 0 and "2024-03-28  Xu Xiaoxiong" in who.stdout


def test_brief_json_lists_what_arrived_without_a_model(
    env: dict[str, str], llm_server: FakeOpenAIServer
) -> None:
    empty = run(["brief"], env)
    assert empty.returncode == 0 and empty.stdout == "Nothing arrived today (since 00:00 UTC).\n"
    done = run(["digest", str(ARTICLE), "--json"], env)
    assert done.returncode == 0, done.stderr
    officials = {o["name"] for o in json.loads(done.stdout)["officials"]}
    calls = len(llm_server.requests)
    no_model = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    brief = run(["brief", "--json"], no_model)
    assert brief.returncode == 0, brief.stderr
    data = json.loads(brief.stdout)
    assert [a["title"] for a in data["articles"]] == [make_title(ARTICLE.read_text())]
    assert {o["name"] for o in data["new_officials"]} == officials
    assert len(data["new_officials"]) == len(officials)
    assert data["pledges"] and data["period"]["label"] == "today (since 00:00 UTC)"
    week = run(["brief", "--week"], env)
    assert week.returncode == 0 and "1 article(s) arrived in the last 7 days." in week.stdout
    assert "new: Xu Xiaoxiong (" in week.stdout
    later = json.loads(run(["brief", "--since", "2999-01-01", "--json"], env).stdout)
    assert later["articles"] == [] and later["new_officials"] == []
    bad = run(["brief", "--since", "March"], env)
    assert bad.returncode == 2 and "March is not a date" in bad.stderr
    assert len(llm_server.requests) == calls  # a brief is assembled in code


async def test_a_file_is_stored_with_its_title_and_name_as_telegram_stores_it(
    env: dict[str, str], llm_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """The CLI takes an article in through the service's intake, as Telegram does: the stored
    article keeps the page's title and the file's name, not just the text."""
    head, body = ARTICLE.read_text(encoding="utf-8").split("\n\n", 1)
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    page = tmp_path / "summit.html"
    page.write_text(
        f"<html><head><title>{head} | Zhaoqing Daily</title></head><body>"
        f"<article><h1>{head}</h1>{paragraphs}</article></body></html>",
        encoding="utf-8",
    )
    note = tmp_path / "note.txt"
    note.write_text(f"{head}\n\n{body}", encoding="utf-8")
    for path in (page, note):
        done = run(["digest", str(path)], env)
        assert done.returncode == 0, done.stderr
        assert "OFFICIALS (" in done.stdout
    settings = make_settings(Path(env["BOT_DATA_DIR"]), llm_server)
    service = DigestService.from_settings(settings)
    try:
        from_note, from_page = service.recent_articles("cli", 2)
    finally:
        await service.aclose()
    assert from_page.origin == "summit.html" and from_note.origin == "note.txt"
    assert from_page.title == from_note.title == make_title(head)

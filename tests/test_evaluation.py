"""The quality score counts what it should, in both directions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.views import corpus_text
from bot.core.chunking import CountTokens
from bot.core.evaluation import CorpusReport, CorpusRow, evaluate, evaluate_folder, score_digest
from bot.core.schemas import Digest, Official
from bot.core.service import DigestService
from tests.conftest import DATA, process_env
from tests.fakes.gold_model import CORPUS, GoldModel
from tests.fakes.openai_server import FakeOpenAIServer

GOLD = json.loads((DATA / "zhaoqing-die-casting-summit.gold.json").read_text())


def _official(name: str, title: str, organization: str = "") -> Official:
    return Official(name=name, title=title, organization=organization, quote=name, sentences=[1])


def test_score_flags_wrong_titles_reporters_and_invented(article_text: str) -> None:
    digest = Digest(
        summary="",
        key_points=[],
        officials=[
            _official("Zhang Aijun", "Mayor", "Zhaoqing"),  # a known wrong title
            _official("Xu Xiaoxiong", "Mayor", "Zhaoqing"),
            _official("Yang Qing", "vice president", "Xinhuanet"),  # the article's short form
            _official("Liu Chunlin", "reporter"),
            _official("Jane Doe", "Minister"),
        ],
        commitments=[],
    )
    score = score_digest(digest, article_text, GOLD)
    assert score["officials_found"] == 3 and score["titles_right"] == 2
    assert score["wrong_titles"] == ["Zhang Aijun: Mayor"]
    assert score["reporters_listed"] == ["Liu Chunlin"] and score["invented_people"] == ["Jane Doe"]
    assert len(score["missed_officials"]) == 9


async def test_evaluate_runs_digest_and_questions(
    service: DigestService, article_text: str
) -> None:
    report = await evaluate(service, article_text, GOLD)
    assert report.officials_found == 12 and report.reporters_listed == []
    assert len(report.questions) == 4
    by_question = {q.question: q.right for q in report.questions}
    assert by_question["Who is the mayor of Zhaoqing?"]
    assert by_question["What is the population of Zhaoqing?"]


# --- a folder of articles: one table -----------------------------------------------------------


LONG = "hunan-manufacturing-conference-long"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=Path(env["BOT_DATA_DIR"]).parent,
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _folder(tmp_path: Path, *slugs: str) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for slug in slugs:
        for suffix in (".txt", ".gold.json"):
            shutil.copy(DATA / f"{slug}{suffix}", folder / f"{slug}{suffix}")
    (folder / "notes.txt").write_text("an article without reference answers is skipped")
    return folder


@pytest.fixture
def gold_server(count_tokens: CountTokens) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(GoldModel(count_tokens), count_tokens=count_tokens) as server:
        yield server


def test_eval_of_the_corpus_with_a_model_that_knows_the_answers_is_perfect(
    tmp_path: Path, gold_server: FakeOpenAIServer
) -> None:
    env = process_env(tmp_path / "data", gold_server, BOT_SERVER="openai")
    result = _cli(["eval", str(DATA), "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["article"] for row in data["rows"]] == CORPUS
    total = data["total"]
    assert total["officials_found"] == total["officials_expected"] == 95
    assert total["titles_right"] == 95
    assert (total["invented"], total["reporters"], total["non_persons"]) == (0, 0, 0)
    assert total["actors_right"] == total["commitments_found"]
    assert total["answers_right"] == total["questions"] == 54
    assert all(row["error"] is None for row in data["rows"])
    rows = {row["article"]: row for row in data["rows"]}
    for slug, row in rows.items():
        if slug != LONG:  # see the next test
            assert row["commitments_found"] == row["commitments_expected"], slug


def test_eval_of_the_long_article_keeps_every_pledge(
    tmp_path: Path, gold_server: FakeOpenAIServer
) -> None:
    folder = _folder(tmp_path, LONG)
    env = process_env(tmp_path / "data", gold_server, BOT_SERVER="openai")
    result = _cli(["eval", str(folder), "--json"], env)
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["commitments_found"] == total["commitments_expected"] == 31


def test_eval_of_a_folder_prints_one_table_with_a_total(
    tmp_path: Path, gold_server: FakeOpenAIServer
) -> None:
    folder = _folder(tmp_path, "nc-governor-rural-grants", "lanjiang-project-signing-zh")
    result = _cli(["eval", str(folder)], process_env(tmp_path / "data", gold_server))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["article", "officials", "titles", "invented"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line and line[0] != "-"}
    assert rows["nc-governor-rural-grants"][:6] == ["6/6", "6/6", "0", "0", "0", "7/7"]
    assert rows["lanjiang-project-signing-zh"][:6] == ["10/10", "10/10", "0", "0", "0", "8/8"]
    assert rows["total"][:8] == ["16/16", "16/16", "0", "0", "0", "15/15", "15/15", "10/10"]
    assert "officials found 100 %" in result.stdout


async def test_eval_of_a_folder_with_the_scripted_model(
    tmp_path: Path, service: DigestService
) -> None:
    folder = _folder(tmp_path, "zhaoqing-die-casting-summit", "us-congress-rural-bridges")
    corpus = await evaluate_folder(service, folder)
    rows = {row.article: row for row in corpus.rows}
    assert list(rows) == ["us-congress-rural-bridges", "zhaoqing-die-casting-summit"]
    seed = rows["zhaoqing-die-casting-summit"]
    assert (seed.officials_found, seed.officials_expected, seed.reporters) == (12, 12, 0)
    # It knows only the seed's people: on the other article it misses most, invents no one.
    other = rows["us-congress-rural-bridges"]
    assert other.officials_found < other.officials_expected == 5
    assert (other.invented, other.reporters, other.non_persons) == (0, 0, 0)
    total = corpus.total
    assert total.officials_found == 12 + other.officials_found and total.officials_expected == 17
    assert total.questions == seed.questions + other.questions
    assert total.seconds == pytest.approx(seed.seconds + other.seconds, abs=0.02)
    total_line = next(line for line in corpus_text(corpus).splitlines() if line[:5] == "total")
    assert total_line.split()[1] == f"{total.officials_found}/17"


def test_eval_of_one_file_still_takes_its_gold(
    tmp_path: Path, llm_server: FakeOpenAIServer
) -> None:
    env = process_env(tmp_path / "data", llm_server)
    article = DATA / "zhaoqing-die-casting-summit.txt"
    gold = DATA / "zhaoqing-die-casting-summit.gold.json"
    result = _cli(["eval", str(article), str(gold), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["officials_found"] == 12
    missing = _cli(["eval", str(article)], env)
    assert missing.returncode == 1 and "needs its reference answers" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = _cli(["eval", str(empty)], env)
    assert nothing.returncode == 1 and "no <slug>.txt" in nothing.stderr


def test_a_failed_article_is_a_row_of_the_table() -> None:
    ok = CorpusRow(article="a", officials_expected=2, officials_found=2, titles_right=1)
    corpus = CorpusReport(rows=[ok, CorpusRow(article="b", error="model down")], reports={})
    assert corpus.total.officials_found == 2 and corpus.total.titles_right == 1
    table = corpus_text(corpus)
    assert "b: model down" in table
    assert any(line.split()[:2] == ["b", "error"] for line in table.splitlines())

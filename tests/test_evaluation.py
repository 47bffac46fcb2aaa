"""The quality score counts what it should, in both directions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.evaluation import CorpusReport, CorpusRow, evaluate, evaluate_folder, score_digest
from bot.cli.views import corpus_text
from bot.core.reading.chunking import CountTokens
from bot.core.schemas import Commitment, Digest, Official
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
    assert total["officials_found"] == total["officials_expected"] == 215
    assert total["titles_right"] == 215
    assert (total["invented"], total["reporters"], total["non_persons"]) == (0, 0, 0)
    assert total["actors_right"] == total["commitments_found"]
    assert total["answers_right"] == total["questions"] == 104
    # Nothing to wade through: every listed pledge is a reference one, once, in the
    # article's words; every digest has 3 to 5 key points.
    assert total["commitments_listed"] == total["commitments_precise"] == 247
    assert (total["duplicates"], total["new_words"]) == (0, 0)
    assert all(3 <= row["key_points"] <= 5 for row in data["rows"])
    assert total["summary_covered"] * 100 >= 80 * total["summary_points"]
    assert all(row["error"] is None for row in data["rows"])
    rows = {row["article"]: row for row in data["rows"]}
    for slug, row in rows.items():
        if slug != LONG:  # see the next test
            assert row["commitments_found"] == row["commitments_expected"], slug


def test_eval_with_a_small_model_gives_key_points_and_the_articles_own_words(
    tmp_path: Path, gold_server: FakeOpenAIServer
) -> None:
    env = process_env(tmp_path / "data", gold_server, BOT_SERVER="openai", BOT_SMALL_MODEL="true")
    result = _cli(["eval", str(DATA), "--json", "--questions", "0"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"]["new_words"] == 0
    assert all(3 <= row["key_points"] <= 5 for row in data["rows"])


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
    assert rows["total"][:11] == [
        "16/16", "16/16", "0", "0", "0", "15/15", "15/15", "15", "15/15", "0", "0",
    ]  # fmt: skip
    assert rows["total"][13] == "10/10"  # after summary points and key points
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
    assert other.officials_found <= other.officials_expected == 5
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


# --- what a reader wades through ---------------------------------------------------------------

_ARTICLE = (
    "Riverton will build a 40 megawatt solar farm by 2027. The county will repave Route 9. "
    "Mayor Ana Silva said the city would hire 120 teachers. The council met on Monday."
)
_GOLD = {
    "officials": [],
    "commitments": [
        {"actor": "Riverton", "via": "Ana Silva", "keywords": ["solar farm", "40 megawatt"]},
        {"actor": "county", "keywords": ["repave", "Route 9"]},
        {"actor": "Riverton", "keywords": ["120 teachers"]},
        {"actor": "state", "keywords": ["broadband", "rural schools"]},
        {"actor": "state", "keywords": ["flood barrier"]},
    ],
    "summary_keywords": [["solar"], ["Riverton", "Ana Silva"], ["teachers"], ["40 megawatt"]],
}


def _pledge(actor: str, text: str, quote: str) -> Commitment:
    return Commitment(actor=actor, commitment=text, deadline=None, quote=quote, sentences=[1])


def _digest(*items: Commitment, summary: str = "", points: tuple[str, ...] = ()) -> Digest:
    return Digest(summary=summary, key_points=list(points), officials=[], commitments=list(items))


SOLAR = "Riverton will build a 40 megawatt solar farm by 2027."


def test_precision_counts_listed_commitments_that_match_a_reference_not_references_found() -> None:
    digest = _digest(
        _pledge("Riverton", "build a 40 megawatt solar farm", SOLAR),
        _pledge("Riverton", "a solar farm of 40 megawatt by 2027", SOLAR),  # the same pledge again
        _pledge("council", "met on Monday", "The council met on Monday."),  # no reference says it
    )
    score = score_digest(digest, _ARTICLE, _GOLD)
    # Recall: 1 of 5 references found. Precision: 2 of the 3 listed say a reference pledge.
    assert (score["commitments_matched"], score["commitments_expected"]) == (1, 5)
    assert (score["commitments_precise"], score["commitments_listed"]) == (2, 3)
    assert score["duplicate_commitments"] == ["Riverton: a solar farm of 40 megawatt by 2027"]


def test_duplicates_are_the_same_clause_or_the_same_pledge_to_two_actors() -> None:
    county = "The county will repave Route 9."
    digest = _digest(
        _pledge("county", "repave Route 9", county),
        _pledge("Ana Silva", "repave Route 9", county),  # the same pledge given to two actors
        _pledge("Riverton", "build a 40 megawatt solar farm", SOLAR),
        _pledge(
            "Riverton",
            "hire 120 teachers",
            "Mayor Ana Silva said the city would hire 120 teachers.",
        ),
    )
    score = score_digest(digest, _ARTICLE, _GOLD)
    assert score["duplicate_commitments"] == ["Ana Silva: repave Route 9"]
    assert score["commitments_precise"] == 4 and score["commitments_matched"] == 3


def test_two_pledges_of_one_sentence_are_not_duplicates() -> None:
    both = "Riverton will build a 40 megawatt solar farm and the county will repave Route 9."
    digest = _digest(
        _pledge("Riverton", "build a 40 megawatt solar farm", both),
        _pledge("county", "repave Route 9", both),
    )
    assert score_digest(digest, _ARTICLE, _GOLD)["duplicate_commitments"] == []


def test_summary_coverage_counts_groups_held_by_the_summary_or_the_key_points() -> None:
    digest = _digest(
        summary="RIVERTON plans a solar farm.",  # case does not matter
        points=("The city would hire 120 teachers.",),  # "teachers" from a key point
    )
    score = score_digest(digest, _ARTICLE, _GOLD)
    assert (score["summary_covered"], score["summary_points"]) == (3, 4)
    assert score["summary_missed"] == ["40 megawatt"]
    assert score["key_points"] == 1
    # Whole words only: "solar" is not in "solarium", nor "RO" in "program".
    other = score_digest(_digest(summary="A solarium opened."), _ARTICLE, _GOLD)
    assert other["summary_covered"] == 0


def test_chinese_summary_groups_are_read_in_chinese() -> None:
    gold = {"officials": [], "commitments": [], "summary_keywords": [["签约"], ["澜江"], ["36个"]]}
    digest = _digest(summary="澜江市举行重大项目集中签约活动，共签约项目36个。")
    assert score_digest(digest, "澜江", gold)["summary_covered"] == 3


def test_commitment_words_the_article_does_not_have_are_counted() -> None:
    digest = _digest(
        _pledge("Riverton", "jointly promote the high-Qualy solar farm", SOLAR),
        _pledge("Riverton", "build a 40 megawatt solar farm by 2027", SOLAR),
    )
    score = score_digest(digest, _ARTICLE, _GOLD)
    assert score["new_word_commitments"] == [
        "Riverton: jointly promote the high-Qualy solar farm (jointly, promote, high-qualy)"
    ]


def test_a_gold_file_without_summary_keywords_scores_no_summary_points() -> None:
    gold: dict[str, list[str]] = {"officials": [], "commitments": []}
    score = score_digest(_digest(summary="Anything."), _ARTICLE, gold)
    assert (score["summary_points"], score["summary_covered"], score["commitments_listed"]) == (
        0, 0, 0,
    )  # fmt: skip


def test_the_corpus_table_shows_what_a_reader_wades_through() -> None:
    row = CorpusRow(
        article="a", commitments_expected=5, commitments_found=1, commitments_listed=3,
        commitments_precise=2, duplicates=1, summary_points=4, summary_covered=3, key_points=4,
        new_words=1,
    )  # fmt: skip
    short = CorpusRow(article="b", key_points=2, summary_points=5, summary_covered=5)
    corpus = CorpusReport(rows=[row, short], reports={})
    assert corpus.total.commitments_listed == 3 and corpus.total.summary_points == 9
    lines = corpus_text(corpus).splitlines()
    header = lines[0].split()
    for column in ("listed", "precise", "dupes", "summary", "key-pts", "new-words"):
        assert column in header
    cells = dict(zip(header, lines[2].split(), strict=False))  # "digest s" is two words
    assert (cells["listed"], cells["precise"], cells["dupes"]) == ("3", "2/3", "1")
    assert (cells["summary"], cells["key-pts"], cells["new-words"]) == ("3/4", "4", "1")
    text = corpus_text(corpus)
    assert "precision 67 %" in text and "summary points 89 %" in text
    assert "3 to 5 key points on 1 of 2 digests" in text

"""Chunking: budgets hold, no text is lost, CJK works, paragraphs are preferred."""

from __future__ import annotations

import random

import pytest

from bot.core.reading.chunking import CountTokens, NumberedArticle, render_sentences
from tests.conftest import DATA


def _rebuilt(article: NumberedArticle) -> str:
    return "".join(s.text for s in article.sentences)


def _squeeze(text: str) -> str:
    return "".join(text.split())


def test_sentences_cover_the_article_exactly(article_text: str, count_tokens: CountTokens) -> None:
    article = NumberedArticle(article_text, count_tokens, 400)
    assert _rebuilt(article) and _squeeze(_rebuilt(article)) == _squeeze(article_text)
    for sentence in article.sentences:
        assert article_text[sentence.start : sentence.end] == sentence.text


@pytest.mark.parametrize("budget", [200, 350, 600, 1000])
def test_chunks_stay_in_budget_and_lose_nothing(
    article_text: str, count_tokens: CountTokens, budget: int
) -> None:
    article = NumberedArticle(article_text, count_tokens, budget // 2)
    chunks = article.chunks(budget, overlap_tokens=60)
    assert len(chunks) >= 2
    for chunk in chunks:
        assert count_tokens(render_sentences(chunk.sentences)) <= budget
    covered = [s.number for c in chunks for s in c.new_sentences]
    assert covered == [s.number for s in article.sentences]  # every sentence once, in order
    assert any(c.overlap for c in chunks[1:])


def test_chunks_are_balanced(article_text: str, count_tokens: CountTokens) -> None:
    article = NumberedArticle(article_text, count_tokens, 400)
    sizes = [c.tokens for c in article.chunks(1000, 0)]
    assert len(sizes) == 2 and min(sizes) > max(sizes) / 3


def test_short_article_is_one_chunk(article_text: str, count_tokens: CountTokens) -> None:
    article = NumberedArticle(article_text, count_tokens, 400)
    assert len(article.chunks(3000, 80)) == 1


def test_chinese_text_without_spaces(count_tokens: CountTokens) -> None:
    sentence = "肇庆市委书记张爱军表示，肇庆将大力培育千亿级新能源汽车和压铸产业集群。"
    paragraph = (
        sentence * 40 + "\n" + "市长许晓雄说，要全力支持压铸企业集聚发展壮大、加快创新升级。" * 40
    )
    article = NumberedArticle(paragraph, count_tokens, 60)
    assert len(article.sentences) >= 80
    assert _squeeze(_rebuilt(article)) == _squeeze(paragraph)
    chunks = article.chunks(300, 30)
    assert all(count_tokens(render_sentences(c.sentences)) <= 300 for c in chunks)
    assert [s.number for c in chunks for s in c.new_sentences] == list(
        range(1, len(article.sentences) + 1)
    )


def test_overlong_sentence_is_split_without_loss(count_tokens: CountTokens) -> None:
    words = [random.Random(7).choice(["alpha", "beta", "gamma", "delta"]) for _ in range(3000)]
    text = " ".join(words) + "."
    article = NumberedArticle(text, count_tokens, 100)
    assert all(s.tokens <= 100 for s in article.sentences)
    assert _squeeze(_rebuilt(article)) == _squeeze(text)
    one_run = "壹" * 2000
    article = NumberedArticle(one_run, count_tokens, 50)
    assert "".join(s.text for s in article.sentences) == one_run


def test_abbreviations_do_not_end_sentences(count_tokens: CountTokens) -> None:
    article = NumberedArticle(
        "Guangdong Hongtu Technology Co., Ltd. opened a centre. Dr. Wu spoke.", count_tokens, 100
    )
    assert [s.text for s in article.sentences] == [
        "Guangdong Hongtu Technology Co., Ltd. opened a centre.",
        "Dr. Wu spoke.",
    ]


def test_paragraph_end_is_preferred(count_tokens: CountTokens) -> None:
    paragraph = " ".join(f"Sentence number {i} talks about die casting." for i in range(12))
    text = "\n\n".join([paragraph] * 4)
    article = NumberedArticle(text, count_tokens, 200)
    chunks = article.chunks(260, 0)
    ends_at_paragraph = [
        c.sentences[-1].paragraph != article.sentences[c.sentences[-1].number].paragraph
        for c in chunks[:-1]
    ]
    assert sum(ends_at_paragraph) >= len(ends_at_paragraph) - 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "WASHINGTON, D.C. — The U.S. Senate met at 10 a.m. Tuesday. It adjourned.",
            ["WASHINGTON, D.C. — The U.S. Senate met at 10 a.m. Tuesday.", "It adjourned."],
        ),
        (
            "Sen. Chuck Schumer (D-N.Y.) and Rep. Liam O'Brien (R-Ohio) spoke. Gov. Jane Doe left.",
            [
                "Sen. Chuck Schumer (D-N.Y.) and Rep. Liam O'Brien (R-Ohio) spoke.",
                "Gov. Jane Doe left.",
            ],
        ),
        (
            "Secretary of Commerce J. Tomas Whitfield agreed. Lt. Gov. Darnell Pettigrew did too.",
            [
                "Secretary of Commerce J. Tomas Whitfield agreed.",
                "Lt. Gov. Darnell Pettigrew did too.",
            ],
        ),
        (
            "Applications are due Jan. 30 at 5 p.m. The next round opens Nov. 3.",
            ["Applications are due Jan. 30 at 5 p.m.", "The next round opens Nov. 3."],
        ),
        (
            "Present were Smt. Meenakshi Iyer, Minister; Shri R. Patil, MP. Ms. Qureshi spoke.",
            [
                "Present were Smt. Meenakshi Iyer, Minister; Shri R. Patil, MP.",
                "Ms. Qureshi spoke.",
            ],
        ),
        # a currency written short runs on into its sum
        (
            "The board will write off Rs. 46 million in arrears. Fees stay at Re. 1 a litre. "
            "Farmers pay Tk. 500 a season.",
            [
                "The board will write off Rs. 46 million in arrears.",
                "Fees stay at Re. 1 a litre.",
                "Farmers pay Tk. 500 a season.",
            ],
        ),
        # a sentence that ends on a decimal sum ends there
        (
            "The wage is $31.40, against a county average of $26.10. Orlan will also train "
            'staff. Fares rose to 3.25. "Riders complained," she said.',
            [
                "The wage is $31.40, against a county average of $26.10.",
                "Orlan will also train staff.",
                "Fares rose to 3.25.",
                '"Riders complained," she said.',
            ],
        ),
        (
            "Public Works &amp; Utilities Director Sandeep Rao spoke. ASHCOMBE, S.C. will grow.",
            [
                "Public Works &amp; Utilities Director Sandeep Rao spoke.",
                "ASHCOMBE, S.C. will grow.",
            ],
        ),
    ],
)
def test_no_sentence_ends_inside_an_abbreviation(
    text: str, expected: list[str], count_tokens: CountTokens
) -> None:
    """Honorifics, initials, state codes, times and dates run on into the next word."""
    assert [s.text for s in NumberedArticle(text, count_tokens, 400).sentences] == expected


def test_chinese_sentences_end_at_full_width_marks(count_tokens: CountTokens) -> None:
    text = "市委书记周启航出席并讲话，市长林晓峰主持。副市长李红梅介绍了措施！会议结束。"
    sentences = [s.text for s in NumberedArticle(text, count_tokens, 400).sentences]
    assert sentences == [
        "市委书记周启航出席并讲话，市长林晓峰主持。",
        "副市长李红梅介绍了措施！",
        "会议结束。",
    ]


@pytest.mark.parametrize("kind", ["clauses", "cjk"])
def test_splitting_a_long_sentence_is_linear(kind: str, count_tokens: CountTokens) -> None:
    """Characters counted grow with the text, not with its square (issue 10's comma list)."""

    def text(size: int) -> str:
        if kind == "clauses":
            return ", ".join(f"Zhang{i} Wei" for i in range(size)) + "."
        return "壹贰叁" * size

    def counted(size: int) -> int:
        total = 0

        def counting(piece: str) -> int:
            nonlocal total
            total += len(piece)
            return count_tokens(piece)

        article = NumberedArticle(text(size), counting, 100)
        assert all(s.tokens <= 100 for s in article.sentences)
        assert _squeeze(_rebuilt(article)) == _squeeze(text(size))
        return total

    small, large = counted(500), counted(4000)
    assert large < 8 * small * 1.5  # 8x the text, well under 64x the work


def test_a_long_article_split_on_two_cpus_is_split_the_same(
    count_tokens: CountTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper process takes the second half of a long article: the sentences, their
    numbers and spans are exactly what one process finds, in every style of the corpus."""
    from pathlib import Path

    from bot.core.reading import chunking, sentence_process

    data = Path(__file__).parent / "data"
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(data.glob("*.txt")))
    assert len(text) > chunking.PARALLEL_CHARS
    calls: list[int] = []
    halves = sentence_process.map_halves

    def spy(work, first, second):  # type: ignore[no-untyped-def]
        calls.append(len(second))
        return halves(work, first, second)

    monkeypatch.setattr(sentence_process, "map_halves", spy)
    together = NumberedArticle(text, count_tokens, 400)
    monkeypatch.setattr(chunking, "PARALLEL_CHARS", len(text) + 1)
    alone = NumberedArticle(text, count_tokens, 400)
    assert calls and calls[0] > 0 and together.sentences == alone.sentences


def test_without_a_helper_process_the_work_stays_here(
    count_tokens: CountTokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox that refuses a second process (or one CPU) costs nothing but the time."""
    from pathlib import Path

    from bot.core.reading import sentence_process

    class Refusing:
        def submit(self, *args: object) -> object:
            raise OSError("no processes here")

        def shutdown(self, **options: object) -> None:
            pass

    monkeypatch.setattr(sentence_process, "_pool", Refusing())
    monkeypatch.setattr(sentence_process, "_unavailable", False)
    text = (Path(__file__).parent / "data" / "hunan-manufacturing-conference-long.txt").read_text(
        encoding="utf-8"
    )
    long = "\n\n".join([text] * 3)
    article = NumberedArticle(long, count_tokens, 400)
    assert len(article.sentences) > 100 and sentence_process._unavailable
    monkeypatch.setattr(sentence_process, "_unavailable", False)
    monkeypatch.setattr(sentence_process, "_pool", None)


def test_counts_in_pieces_match_one_count_on_long_articles() -> None:
    """Counting in bounded pieces (for memory) gives the same total as one count."""
    from bot.core.models.encodings import load_encoding, token_counter
    from bot.core.settings import Settings

    settings = Settings(_env_file=None)
    encoding = load_encoding(settings.encoding, settings.tiktoken_cache_dir)
    count = token_counter(encoding)
    for name in ("hunan-manufacturing-conference-long", "lanjiang-project-signing-zh"):
        text = (DATA / f"{name}.txt").read_text(encoding="utf-8") * 8
        assert count(text) == len(encoding.encode_ordinary(text))
    assert count("a" * 300_000) == len(encoding.encode_ordinary("a" * 300_000))


def test_the_helper_process_ends_when_its_bot_is_killed(tmp_path: object) -> None:
    """A bot killed outright (SIGKILL, an OOM kill) runs no clean-up: its sentence helper
    must still end by itself, not linger beside the restarted bot."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from bot.core.reading import sentence_process\n"
        "sentence_process.warm_up()\n"
        "pool = sentence_process._helper()\n"
        "if pool is None:\n"
        "    print('none', flush=True)\n"
        "else:\n"
        "    print(pool.submit(os.getpid).result(timeout=30), flush=True)\n"
        "sys.stdin.read()\n"
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(DATA.parent.parent),
    )
    assert bot.stdout is not None
    first = bot.stdout.readline().strip()
    if first == "none":  # one CPU: there is no helper to leave behind
        bot.kill()
        bot.wait()
        pytest.skip("no helper process on a single CPU")
    helper = int(first)
    os.kill(bot.pid, signal.SIGKILL)
    bot.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            return
        try:  # a zombie has ended: it is only not reaped yet
            with open(f"/proc/{helper}/stat") as stat:
                if stat.read().split(") ")[-1].startswith("Z"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    os.kill(helper, signal.SIGKILL)
    raise AssertionError("the helper outlived its killed bot")

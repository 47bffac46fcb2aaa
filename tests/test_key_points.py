# ruff: noqa: E501 (the articles below are written one paragraph a line, as pasted)
"""Key points read from the article's own sentences when the model gives fewer than three.

Examples are written for these tests in the styles the bot reads: a wire release with its
dateline, About paragraph, forward-looking statements and contacts; a council story with a
byline; a Chinese municipal release with its credits; a government release with bullets.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.reading.key_points import MAX_POINTS, article_points, with_article_points
from bot.core.schemas import Digest
from bot.core.service import DigestService
from tests.conftest import DATA, make_settings
from tests.fakes.openai_server import FakeOpenAIServer

WIRE = """Corvex to build $400 million plant in Dunmore

DUNMORE, Ohio--(BUSINESS WIRE)--Corvex Inc. (NYSE: CVX) today announced it will build a $400 million battery plant in Dunmore, creating 600 jobs by the end of 2028.

"We are thrilled to be here," said CEO Ana Ruiz.

The Ohio Department of Development approved a $12 million job-creation tax credit for the project on Monday.

Construction will begin in the second quarter of 2026.

Dunmore is a great place to do business, Mayor Tom Bell said.

About Corvex

Corvex Inc. makes batteries for 40 countries and employs 9,000 people worldwide.

Forward-Looking Statements

This press release contains forward-looking statements, including plans to hire 600 workers by 2028, which involve risks.

Media contact: Jo Lee, jo.lee@corvex.com, +1 614 555 0100
"""

COUNCIL = """By Maria Gonzales, Staff Reporter

Photo by Sam Ortiz

The Millbrook City Council voted 6-1 on Tuesday to spend $3.2 million replacing the Elm Street culvert.

Residents packed the chamber.

The work will be finished by October 2026, the public works director said.

Council member Rosa Diaz said the vote was long overdue.
"""

CHINESE = """澜江市举行重大项目集中签约活动

3月18日，澜江市2025年一季度重大项目集中签约活动举行，共签约项目36个，总投资412.6亿元。

会场气氛热烈。

宁川新材料公司将投资120亿元建设铝基新材料产业园，力争2026年底前一期建成投产。

市委书记周启航出席活动并讲话。

记者 王明 通讯员 李华
责任编辑：张三
"""

RELEASE = """£2.4bn to transform buses across the North

- £2.4bn Northern Connectivity Fund will put 1,200 new zero-emission buses on the road by 2030

- £310m for the Calderbridge tram extension, with construction starting in 2027

The Prime Minister visited Calderbridge today.

He said the North deserved better.
"""


def _points(count_tokens: CountTokens, text: str) -> list[str]:
    return article_points(NumberedArticle(text, count_tokens, 400))


def test_a_wire_release_gives_its_facts_not_its_boilerplate(count_tokens: CountTokens) -> None:
    points = _points(count_tokens, WIRE)
    assert points == [
        "Corvex Inc. (NYSE: CVX) today announced it will build a $400 million battery plant in "
        "Dunmore, creating 600 jobs by the end of 2028.",
        "The Ohio Department of Development approved a $12 million job-creation tax credit for "
        "the project on Monday.",
        "Construction will begin in the second quarter of 2026.",
    ]


def test_a_council_story_gives_the_vote_and_the_deadline_not_the_byline(
    count_tokens: CountTokens,
) -> None:
    assert _points(count_tokens, COUNCIL) == [
        "The Millbrook City Council voted 6-1 on Tuesday to spend $3.2 million replacing the "
        "Elm Street culvert.",
        "The work will be finished by October 2026, the public works director said.",
    ]


def test_a_chinese_release_gives_its_figures_not_its_credits(count_tokens: CountTokens) -> None:
    assert _points(count_tokens, CHINESE) == [
        "3月18日，澜江市2025年一季度重大项目集中签约活动举行，共签约项目36个，总投资412.6亿元。",
        "宁川新材料公司将投资120亿元建设铝基新材料产业园，力争2026年底前一期建成投产。",
    ]


def test_bullets_are_points_the_headline_is_not(count_tokens: CountTokens) -> None:
    assert _points(count_tokens, RELEASE) == [
        "£2.4bn Northern Connectivity Fund will put 1,200 new zero-emission buses on the road "
        "by 2030",
        "£310m for the Calderbridge tram extension, with construction starting in 2027",
    ]


def test_the_models_points_come_first_and_the_article_fills_up_to_three_to_five(
    count_tokens: CountTokens,
) -> None:
    article = NumberedArticle(WIRE, count_tokens, 400)
    mine = ["Corvex builds a battery plant in Dunmore."]
    filled = with_article_points(mine, article, "English")
    assert filled[0] == mine[0] and 3 <= len(filled) <= MAX_POINTS
    # Three from the model are enough; more than five are cut.
    enough = ["a", "b", "c"]
    assert with_article_points(enough, article, "English") == enough
    assert with_article_points(list("abcdefg"), article, "English") == list("abcde")
    # A point the model already made is not repeated.
    again = ["Construction will begin in the second quarter of 2026."]
    assert with_article_points(again, article, "English").count(again[0]) == 1


def test_a_chinese_article_digested_in_english_gets_no_chinese_points(
    count_tokens: CountTokens,
) -> None:
    article = NumberedArticle(CHINESE, count_tokens, 400)
    assert with_article_points([], article, "English") == []
    assert len(with_article_points([], article, "Chinese")) == 2


async def test_a_small_models_digest_has_three_to_five_key_points(
    tmp_path: Path, count_tokens: CountTokens
) -> None:
    seed = (DATA / "zhaoqing-die-casting-summit.txt").read_text(encoding="utf-8")
    answer = '{"officials": [], "commitments": [], "summary": "A summit was held."}'
    with FakeOpenAIServer(lambda request: answer, count_tokens=count_tokens) as server:
        service = DigestService.from_settings(make_settings(tmp_path, server, small_model=True))
        try:
            digest: Digest = await service.digest(service.save_article("t", seed))
        finally:
            await service.aclose()
    assert 3 <= len(digest.key_points) <= 5
    assert all(" ".join(p.split()) in " ".join(seed.split()) for p in digest.key_points)
    assert not any("reporter" in p or "Photo" in p for p in digest.key_points)

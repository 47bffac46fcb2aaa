"""English keys of Chinese text (``bot.core.reading.bilingual``): an analyst asks in English
about a release written in Chinese. Examples are invented (other names, places and titles
than the corpus's), each a fact of how English press writes Chinese."""

from __future__ import annotations

from bot.core.reading.bilingual import english_keys
from bot.core.reading.matching import terms


def found(question: str, sentence: str) -> frozenset[str]:
    """The question's words a Chinese sentence holds through its English keys."""
    return terms(question) & english_keys(sentence)


def test_a_place_or_a_person_is_found_by_its_pinyin() -> None:
    # Names are written in pinyin, without tones and without a space inside a name:
    # 西宁 Xining, 王海涛 Wang Haitao, 重庆 Chongqing (重 is read chong or zhong).
    assert found("What did Xining's mayor announce?", "西宁市市长王海涛宣布") >= {"xining"}
    # The given name finds the person; one syllable alone (王 Wang) is too common a key.
    assert found("Who is Wang Haitao?", "西宁市市长王海涛宣布") == {"haitao"}
    assert found("Which firms moved to Chongqing?", "多家企业迁往重庆") == {"chongq"}
    assert "xining" not in english_keys("兰州市市长")


def test_words_are_found_by_their_dictionary_meaning() -> None:
    # 书记 secretary, 基金 fund, 开工 start of construction, 率 rate (not only "to lead").
    assert found("Which party secretaries spoke?", "县委书记李振国讲话") >= {"secret"}
    assert found("How big is the fund?", "设立10亿元产业基金") >= {"fund"}
    assert found("What construction start rate is required?", "开工率不低于70%") >= {
        "constr",
        "rate",
    }
    # A country is found by its English name: 德国 Germany, 巴西 Brazil.
    assert found("Which German companies signed?", "德国企业代表签约") >= {"german"}
    assert "brazil" in english_keys("巴西客商")


def test_text_without_chinese_has_no_extra_keys() -> None:
    assert english_keys("The council will vote on Tuesday.") == frozenset()
    assert english_keys("") == frozenset()
    # A Chinese question finds English sentences through the same keys.
    assert {"secret", "fund"} <= english_keys("书记说基金多大？")

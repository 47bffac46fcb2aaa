"""Grounding rules on the shared article and on small made-up texts."""

from __future__ import annotations

from bot.core.chunking import CountTokens, NumberedArticle
from bot.core.grounding import Grounder, normalize
from bot.core.schemas import CitedCommitment, CitedOfficial

OFFICIALS = ["Sun Xing", "Chen Kaixing", "Zhang Libo", "Yang Qingbing", "Zhuang Lecong",
             "Yuan Xiaoguang", "Wu Guohua", "Zhang Aijun", "Xu Xiaoxiong", "Chi Zhixiong",
             "Ding Wenjiang", "Zheng Chunqi"]  # fmt: skip


def _grounder(text: str, count_tokens: CountTokens) -> Grounder:
    return Grounder(NumberedArticle(text, count_tokens, 400))


def test_lists_of_dignitaries_are_read_by_code(
    article_text: str, count_tokens: CountTokens
) -> None:
    found = [o.name for o in _grounder(article_text, count_tokens).listed_people([])]
    assert found == OFFICIALS  # in order, no reporter, no "Information Technology"


def test_listed_people_skip_known_names_and_prose(count_tokens: CountTokens) -> None:
    text = (
        "John Smith, minister of transport, opened the bridge. Lakeside council member Anna "
        "Berg said the town will repair it. Photo by reporter Kim Park. The Department of "
        "Industry and Information Technology will help."
    )
    grounder = _grounder(text, count_tokens)
    assert [o.name for o in grounder.listed_people([])] == ["John Smith"]
    assert grounder.listed_people(["john smith"]) == []


def test_role_is_read_beside_the_name(article_text: str, count_tokens: CountTokens) -> None:
    grounder = _grounder(article_text, count_tokens)
    others = [normalize(n) for n in OFFICIALS if n != "Yang Qingbing"]
    role = grounder.role_in_text("Yang Qingbing", others)
    assert role is not None and role[0].startswith("member of the Standing Committee")
    assert "China Foundry Association" not in role[0]  # the neighbour's role, before the name


def test_wrong_title_is_replaced_by_the_texts(article_text: str, count_tokens: CountTokens) -> None:
    grounder = _grounder(article_text, count_tokens)
    draft = CitedOfficial(
        name="Zhang Aijun", title="Mayor", organization="Zhaoqing", sentences=[10]
    )
    official = grounder.official(draft, OFFICIALS)
    assert official is not None
    assert (official.title, official.organization) == ("Secretary", "Municipal Party Committee")
    assert official.quote == "Secretary of the Municipal Party Committee Zhang Aijun"


def test_commitment_goes_to_who_the_text_says(article_text: str, count_tokens: CountTokens) -> None:
    grounder = _grounder(article_text, count_tokens)
    misattributed = CitedCommitment(
        actor="Zhang Libo",
        commitment="accelerate breakthroughs in new system batteries and automotive chips",
        deadline=None,
        sentences=[13],
    )
    kept = grounder.commitment(misattributed)
    assert kept is not None and kept.actor == "Ministry of Industry and Information Technology"
    unsupported = misattributed.model_copy(update={"commitment": "build a spaceport by 2030"})
    assert grounder.commitment(unsupported) is None
    invented_actor = misattributed.model_copy(update={"actor": "The Lunar Council"})
    assert grounder.commitment(invented_actor) is None


def test_reporters_are_not_officials(article_text: str, count_tokens: CountTokens) -> None:
    grounder = _grounder(article_text, count_tokens)
    for reporter in ["Liu Chunlin", "Xie Jiangtao", "Liang Ailing", "Hu Yukun", "Liao Tong"]:
        draft = CitedOfficial(name=reporter, title="reporter", organization="", sentences=[9])
        assert grounder.official(draft, OFFICIALS) is None
    assert not grounder.is_byline_name(normalize("Sun Xing"))


def test_plain_pledges_are_read_by_code(article_text: str, count_tokens: CountTokens) -> None:
    pledges = _grounder(article_text, count_tokens).stated_pledges()
    assert [(p.actor, p.sentences) for p in pledges] == [
        ("Ministry of Industry and Information Technology", [13]),
        ("Xinhuanet", [21]),
        ("Zhaoqing", [30]),
    ]  # and not "Lightweight, integrated, new Ecology will become ..." (sentence 16)
    assert pledges[0].commitment.startswith("fully support innovation")

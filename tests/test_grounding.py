"""Grounding rules on the shared article and on small made-up texts."""

from __future__ import annotations

from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.reading.grounding import Grounder, ground_drafts, normalize
from bot.core.schemas import CitedCommitment, CitedOfficial

OFFICIALS = ["Sun Xing", "Chen Kaixing", "Zhang Libo", "Yang Qingbing", "Zhuang Lecong",
             "Yuan Xiaoguang", "Wu Guohua", "Zhang Aijun", "Xu Xiaoxiong", "Chi Zhixiong",
             "Ding Wenjiang", "Zheng Chunqi"]  # fmt: skip


def _grounder(text: str, count_tokens: CountTokens) -> Grounder:
    return Grounder(NumberedArticle(text, count_tokens, 400))


def _number(grounder: Grounder, opening: str) -> int:
    """The number of the sentence that starts with ``opening`` (splitting may renumber)."""
    return next(s.number for s in grounder.article.sentences if s.text.startswith(opening))


def test_lists_of_dignitaries_are_read_by_code(
    article_text: str, count_tokens: CountTokens
) -> None:
    found = [o.name for o in _grounder(article_text, count_tokens).listed_people([])]
    assert found == OFFICIALS  # in order, no reporter, no "Information Technology"


def test_people_written_with_their_role_are_found_but_not_credits(
    count_tokens: CountTokens,
) -> None:
    text = (
        "John Smith, minister of transport, opened the bridge. Lakeside council member Anna "
        "Berg said the town will repair it. Photo by reporter Kim Park. The Department of "
        "Industry and Information Technology will help."
    )
    grounder = _grounder(text, count_tokens)
    assert [o.name for o in grounder.listed_people([])] == ["John Smith", "Anna Berg"]
    assert [o.name for o in grounder.listed_people(["john smith"])] == ["Anna Berg"]


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
        sentences=[_number(grounder, "The Ministry of Industry")],
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
    grounder = _grounder(article_text, count_tokens)
    pledges = grounder.stated_commitments()
    assert [(p.actor, p.sentences) for p in pledges] == [
        ("Ministry of Industry and Information Technology", [_number(grounder, "The Ministry")]),
        ("Xinhuanet", [_number(grounder, "Xinhuanet will")]),
        ("Zhaoqing", [_number(grounder, "In the new round of construction")]),
    ]  # and not "Lightweight, integrated, new Ecology will become ..."
    assert pledges[0].commitment.startswith("will fully support innovation")


def test_longest_name_in_a_list_and_no_bodies(count_tokens: CountTokens) -> None:
    text = (
        "Present were Deputy Mayor Mary Ann Smith, Council Leader Tom Jones, and the City CPC. "
        "Party Secretary Wang Hua of the High-tech Zone spoke to the People's Congress."
    )
    grounder = _grounder(text, count_tokens)
    found = [o.name for o in grounder.listed_people([])]
    assert found == ["Mary Ann Smith", "Tom Jones", "Wang Hua"]  # not "Ann Smith", no body
    for body in ["High-tech Zone", "the City CPC", "People's Congress", "City CPC"]:
        draft = CitedOfficial(name=body, title="Secretary", organization="", sentences=[2])
        assert grounder.official(draft, []) is None, body


def test_titles_are_matched_after_expanding_abbreviations(count_tokens: CountTokens) -> None:
    text = (
        "Gov. Maria Okafor-Reyes spoke. Lt. Gov. Darnell Pettigrew agreed. "
        "Helen Ashworth, MP for Calderbridge, said so."
    )
    grounder = _grounder(text, count_tokens)
    names = ["Maria Okafor-Reyes", "Darnell Pettigrew", "Helen Ashworth"]
    cases = [
        ("Maria Okafor-Reyes", "Governor", [1]),
        ("Lieutenant Governor Darnell Pettigrew", "", [2]),  # the title in the name field
        ("Helen Ashworth", "MP", [3]),
    ]
    found = [grounder.official(CitedOfficial(name=n, title=t, organization="", sentences=s), names)
             for n, t, s in cases]  # fmt: skip
    assert [(o.name, o.title) for o in found if o] == [
        ("Maria Okafor-Reyes", "Governor"),
        ("Darnell Pettigrew", "Lieutenant Governor"),
        ("Helen Ashworth", "MP"),
    ]
    wrong = CitedOfficial(name="Maria Okafor-Reyes", title="Lieutenant Governor",
                          organization="", sentences=[1])  # fmt: skip
    official = grounder.official(wrong, names)
    assert official is not None and official.title == "Gov."  # read from the text instead


def test_chinese_names_titles_and_bylines(count_tokens: CountTokens) -> None:
    text = (
        "本报讯（记者 张晓燕 通讯员 刘洋）市委副书记、市长林晓峰主持。"
        "副市长李红梅、艾克拜尔·吐尔洪出席。\n艾克拜尔•吐尔洪陪同客商参观。"
    )
    grounder = _grounder(text, count_tokens)
    names = ["林晓峰", "李红梅", "艾克拜尔·吐尔洪"]
    for reporter in ["张晓燕", "刘洋"]:
        draft = CitedOfficial(name=reporter, title="记者", organization="", sentences=[1])
        assert grounder.official(draft, names) is None
    mayor = grounder.official(
        CitedOfficial(name="市长林晓峰", title="", organization="", sentences=[1]), names
    )
    assert mayor is not None and (mayor.name, mayor.title) == ("林晓峰", "市长")
    read = grounder.official(CitedOfficial(name="林晓峰", title="", organization="",
                                           sentences=[1]), names)  # fmt: skip
    assert read is not None and read.title == "市委副书记、市长"  # both titles joined by 、
    long_name = grounder.official(
        CitedOfficial(name="艾克拜尔·吐尔洪", title="", organization="", sentences=[2, 3]), names
    )
    assert long_name is not None and long_name.title == "副市长"


def test_pledges_with_generic_subjects_keep_their_actor(count_tokens: CountTokens) -> None:
    text = (
        "MILLBROOK FALLS — The council met.\n"
        "Mayor Teresa Halvorsen said the city would pay for the work from its reserve.\n"
        '"We\'ll put that list out this spring," said Secretary Gloria Hartwell.'
    )
    grounder = _grounder(text, count_tokens)
    pledges = [
        CitedCommitment(actor="Millbrook Falls", commitment="pay for the work from its reserve",
                        deadline=None, sentences=[2]),
        CitedCommitment(actor="Gloria Hartwell", commitment="put that list out this spring",
                        deadline=None, sentences=[3]),
    ]  # fmt: skip
    found = [grounder.commitment(p) for p in pledges]
    assert [c.actor if c else None for c in found] == ["Millbrook Falls", "Gloria Hartwell"]


def test_a_name_in_the_wrong_case_takes_the_articles_spelling(count_tokens: CountTokens) -> None:
    # The embedded model copied an upper-case byline's style: "PAN RUOXI" for "Pan Ruoxi".
    text = (
        "By ZHOU HUIMIN in Fenghe\n\n"
        "Pan Ruoxi, vice-governor of Jiangxi province, said the province would set up a fund.\n"
        "Gu Mingyuan, Party chief of Fenghe, said the city's future depended on new industries."
    )
    article = NumberedArticle(text, count_tokens, 400)
    drafts = [CitedOfficial(name=n, title="", organization="", sentences=[])
              for n in ("ZHOU HUIMIN", "PAN RUOXI", "GU MINGYuan")]  # fmt: skip
    officials, commitments, _ = ground_drafts(article, drafts, [], read_commitments=True)
    assert [(o.name, o.title) for o in officials] == [
        ("Pan Ruoxi", "vice-governor"),
        ("Gu Mingyuan", "Party chief"),
    ]  # and the reporter is still no official
    assert [(c.actor, c.commitment) for c in commitments] == [("Pan Ruoxi", "would set up a fund")]

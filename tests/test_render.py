"""Telegram HTML views: escaped, balanced, within 4096 characters, nothing lost."""

from __future__ import annotations

import html
import re

from bot.core.schemas import Answer, Digest, Official
from bot.telegram_app.render import MESSAGE_LIMIT, Paragraph, digest_paragraphs, pack

_TAG = re.compile(r"</?(?:b|i|blockquote)(?: expandable)?>")


def _plain(message: str) -> str:
    return html.unescape(_TAG.sub("", message))


def test_long_hostile_text_is_split_escaped_and_kept() -> None:
    text = " ".join(f"R&D <{i}> costs > 5 & rising." for i in range(2500))
    messages = pack([Paragraph(text, style="quote"), Paragraph("end", lead="Lead: ")])
    assert len(messages) > 3
    for message in messages:
        assert len(message) <= MESSAGE_LIMIT
        assert message.count("<blockquote") == message.count("</blockquote>")
        assert "<" not in _TAG.sub("", message)  # every other < arrived escaped
    joined = " ".join(_plain(m) for m in messages)
    assert " ".join(joined.split()).startswith(text[:200]) and joined.rstrip().endswith("end")
    assert " ".join(joined.split()).replace("Lead: end", "").strip() == " ".join(text.split())


def test_digest_view_trims_lists_but_says_how_many() -> None:
    officials = [
        Official(name=f"Person {i}", title="director", organization="", quote="q", sentences=[1])
        for i in range(30)
    ]
    digest = Digest(summary="S", key_points=[], officials=officials, commitments=[])
    text = "\n".join(pack(digest_paragraphs(digest, title="T")))
    assert "Officials (30)" in text and "…and 18 more (tap Officials)" in text
    assert "Person 11" in text and "Person 12" not in text


def test_answer_view_is_escaped() -> None:
    from bot.telegram_app.render import answer_paragraphs

    answer = Answer(answer="x < y & z", quotes=["<i>not a tag</i>"], stated=False)
    message = pack(answer_paragraphs(answer))[0]
    assert "x &lt; y &amp; z" in message and "&lt;i&gt;not a tag&lt;/i&gt;" in message
    assert "does not state" in message


def test_answer_does_not_repeat_itself_as_a_quote() -> None:
    from bot.telegram_app.render import answer_paragraphs

    sentence = "Mayor Xu Xiaoxiong attended. " * 20
    answer = Answer(answer=sentence, quotes=[sentence, "Another sentence."], stated=True)
    message = pack(answer_paragraphs(answer))[0]
    assert message.count("Mayor Xu Xiaoxiong attended.") == 20
    assert "<blockquote>Another sentence.</blockquote>" in message


# --- an official the article gives no groundable title -----------------------------------------


def _untitled() -> list[Official]:
    return [
        Official(name="Rosa Ibarra", title="", organization="Valmora Port Authority",
                 quote="Rosa Ibarra of the Valmora Port Authority spoke.", sentences=[1]),
        Official(name="Tomasz Wrona", title=" ", organization="", quote="Tomasz Wrona spoke.",
                 sentences=[2]),
        Official(name="Ama Owusu", title="Mayor", organization="", quote="Mayor Ama Owusu.",
                 sentences=[3]),
    ]  # fmt: skip


def test_an_official_without_a_title_is_shown_as_such_in_every_view() -> None:
    from bot.core.storage.register import RegisteredOfficial
    from bot.telegram_app.render import digest_markdown, officials_paragraphs, who_entries

    digest = Digest(summary="S", key_points=[], officials=_untitled(), commitments=[])
    views = {
        "digest": "\n".join(_plain(m) for m in pack(digest_paragraphs(digest, title="T"))),
        "officials": "\n".join(_plain(m) for m in pack(officials_paragraphs(digest))),
        "markdown": digest_markdown(digest, "T"),
    }
    mentions = [
        RegisteredOfficial(name=o.name, title=o.title, organization=o.organization, quote=o.quote,
                article_id=1, article_title="T", date="2025-04-18", pledges=())
        for o in _untitled()
    ]  # fmt: skip
    views["who"] = "\n".join(_plain(m) for e in who_entries(mentions) for m in pack(e.paragraphs))
    expected = {
        "Rosa Ibarra": "title not stated, Valmora Port Authority",  # the body is not the title
        "Tomasz Wrona": "title not stated",
        "Ama Owusu": "Mayor",
    }
    for view, text in views.items():
        for person, role in expected.items():
            assert re.search(rf"{person}\** — {role}$", text, re.MULTILINE), (view, person)
        assert "— ," not in text and "—  " not in text, view  # nothing dangles


def test_the_digest_and_every_register_line_show_the_articles_date() -> None:
    from bot.core.storage.register import RegisteredCommitment, RegisteredOfficial, RegisterHit
    from bot.telegram_app.render import found_entries, pledge_entries, who_entries

    digest = Digest(summary="S", key_points=[], officials=[], commitments=[])
    shown = "\n".join(
        _plain(m)
        for m in pack(digest_paragraphs(digest, title="T", date="Reported: 12 March 2024"))
    )
    assert shown.splitlines()[:2] == ["📰 T", "Reported: 12 March 2024"]
    assert "Reported" not in "\n".join(pack(digest_paragraphs(digest, title="T")))

    mention = RegisteredOfficial("A B", "Mayor", "", "q", 1, "Art", "2024-03-12", (), "event")
    pledge = RegisteredCommitment("A B", "build", None, "q", 2, "Art", "2024-03", "published")
    found = RegisterHit(3, "Art", "2026-01-05", "snippet", "arrived")
    lines = [
        "\n".join(_plain(m) for e in entries for m in pack(e.paragraphs))
        for entries in (who_entries([mention]), pledge_entries([pledge]), found_entries([found]))
    ]
    assert "Art · 2024-03-12" in lines[0]
    assert "Art · 2024-03" in lines[1]
    assert "Art · arrived 2026-01-05" in lines[2]

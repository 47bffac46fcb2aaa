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

"""The messages a model is sent about an article: the system rules, the fenced article, the notes.

The article is its own message, byte-identical wherever the same text is sent, so a server
with a prompt cache reuses it across the calls and questions about one article. Article text
can never open or close the fence it is placed in.
"""

from __future__ import annotations

import re

from bot.core.models.llm import ChatMessage
from bot.core.prompts import PromptLibrary
from bot.core.reading.chunking import Sentence
from bot.core.reading.script import not_latin_script

# Any spelling a model may read as the fence's tag: any case, blanks or invisible characters
# inside, attributes after, fullwidth brackets. "<articles>" is another word and stays.
_GAP = r"[\s\u200b-\u200d\u2060\ufeff]*"
_FENCE_TAG = re.compile(rf"[<\uff1c]{_GAP}(?P<slash>[/\uff0f]?){_GAP}(?P<word>article)\b", re.I)


def fence(text: str) -> str:
    """Keep article text from opening or closing the <article> fence it is placed in: every
    spelling of the tag becomes "<", a zero-width space, then "/article" (or "article"): no
    longer the tag, for a parser or a model, and the words themselves are kept."""
    return _FENCE_TAG.sub(lambda m: f"<\u200b{'/' if m['slash'] else ''}{m['word']}", text)


def system_message(prompts: PromptLibrary, text: str) -> ChatMessage:
    """The shared rules, plus the rule for names in another script when the article has one."""
    content = prompts.render("system")
    if not_latin_script(text):
        content += "\n" + prompts.render("system_script")
    return {"role": "system", "content": content}


def article_message(prompts: PromptLibrary, numbered_text: str) -> ChatMessage:
    """The article as its own message, byte-identical wherever the same text is sent."""
    return {"role": "user", "content": prompts.render("article", article=fence(numbered_text))}


def context_note(context: tuple[Sentence, ...], fresh: tuple[Sentence, ...]) -> str:
    """What a chunk's task says about its sentences: which are new, which are context."""
    if not fresh:
        return ""
    if context:
        return context_note_text(
            fresh[0].number, fresh[-1].number, context[0].number, context[-1].number
        )
    return context_note_text(fresh[0].number, fresh[-1].number)


def context_note_text(first: int, last: int, *context: int) -> str:
    """The note for sentences ``first`` to ``last``, after the ``context`` ones (first, last)."""
    new = f" Report on sentences [{first}] to [{last}] (the NEW sentences)."
    if context:
        return new + f" [{context[0]}] to [{context[1]}] are context from the part before."
    return new

"""The article as evidence: its sentences minus injected instructions, and where it names whom.

Grounding (``bot.core.reading.grounding``) checks every claim against this: which sentences write a
name (also a name the sentence splitter cut after an initial it did not know, "... and Ch." |
"Venkata Rao"), which of them are credit lines, whether a string reads as a person's name in
this article, and the article's own spelling of a name a model wrote in another case.
Injected instructions are set aside one sentence at a time (``readers.injected_sentences``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from bot.core.reading.chunking import NumberedArticle, Sentence
from bot.core.reading.matching import (
    SentenceIndex,
    aligned,
    coverage,
    name_pattern,
    normalize,
    words,
)
from bot.core.reading.readers import Reader, injected_sentences, reader_for
from bot.core.reading.script import CJK

_OPENING_QUOTES = "\"“‘'«"


class Evidence:
    """One article's sentences, indexed for names, with what is not evidence set aside."""

    claim_threshold = 0.5

    def __init__(self, article: NumberedArticle) -> None:
        self.article = article
        self.reader: Reader = reader_for(article.text)
        self.index = SentenceIndex(article.sentences)
        self._normalized = self.index.normalized
        paragraphs: dict[int, list[Sentence]] = {}
        for sentence in article.sentences:
            paragraphs.setdefault(sentence.paragraph, []).append(sentence)
        self._paragraphs = paragraphs
        self._injected = {
            group[i].number
            for group in paragraphs.values()
            for i in injected_sentences([s.text for s in group])
        }
        sentence_words = {s.number: set(words(s.text)) for s in article.sentences}
        self._paragraph_words = {
            p: set().union(*(sentence_words[s.number] for s in group))
            for p, group in paragraphs.items()
        }
        self._evidence = [s for s in article.sentences if s.number not in self._injected]
        self._vocabulary = set().union(*(sentence_words[s.number] for s in self._evidence))
        self._person: dict[str, bool] = {}
        self._written: dict[str, str] = {}  # name as the model wrote it -> as the article does
        self._forms: dict[str, list[str]] = {}

    def short_forms(self, name: str) -> list[str]:
        """The shorter forms this article writes the name in later ("Gao" for "Gao Minghua")."""
        if (known := self._forms.get(name)) is None:
            self._forms[name] = known = self.reader.short_forms(name, self.article.text)
        return known

    def _as_written(self, name: str) -> str:
        """The article's own casing of a name the model wrote in another ("PAN RUOXI", copied
        from the style of an upper-case byline, for "Pan Ruoxi"); else the name unchanged."""
        if (known := self._written.get(name)) is not None:
            return known
        text = self.article.text
        found = None
        if name and name not in text:
            found = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)
        self._written[name] = written = found.group(0) if found else name
        return written

    def is_byline_name(self, key: str) -> bool:
        """True if every mention of the name is a credit line (reporter, photographer...)."""
        naming = [self.article.sentences[n - 1] for n in self.index.naming(key)]
        return bool(naming) and all(self._is_credit(s, key) for s in naming)

    def _is_credit(self, sentence: Sentence, key: str) -> bool:
        before = self._lines_before(sentence)
        return any(
            self.reader.is_credit(before, sentence.text, start, end)
            for start, end in self._spans(sentence, key)
        )

    def _lines_before(self, sentence: Sentence) -> str:
        """The heading above a run of short lines ("Press contacts:"), if any."""
        number = sentence.number - 1
        while number >= 1:
            previous = self.article.sentences[number - 1]
            if previous.text.rstrip().endswith(":") or len(previous.text.split()) > 8:
                return previous.text
            number -= 1
        return ""

    def _spans(self, sentence: Sentence, key: str) -> list[tuple[int, int]]:
        """Where the name stands in the sentence's own text (offsets into ``sentence.text``);
        for a name the sentence splitter cut after an initial it did not know ("... and Ch."
        | "Venkata Rao, Deputy High Commissioner"), the part this sentence opens with."""
        folded = aligned(sentence.text)
        found = [(m.start(), m.end()) for m in text_pattern(key).finditer(folded)]
        if found or CJK.search(key):
            return found
        words = key.split()
        opening = len(folded) - len(folded.lstrip())
        for cut in range(1, len(words)):
            head = text_pattern(" ".join(words[cut:])).match(folded, opening)
            if head is not None and self._cut_before(sentence, " ".join(words[:cut])):
                return [(head.start(), head.end())]
        return []

    def _mentions(self, key: str) -> list[int]:
        found = [n for n in self.index.naming(key) if n not in self._injected]
        if found or CJK.search(key) or " " not in key:
            return found
        return [n for n in self._cut_mentions(key) if n not in self._injected]

    def _cut_mentions(self, key: str) -> list[int]:
        """Sentences that open with the rest of a name the previous sentence ends with."""
        words = key.split()
        found: set[int] = set()
        for cut in range(1, len(words)):
            tail = " ".join(words[cut:])
            for number in self.index.naming(tail):
                sentence = self.article.sentences[number - 1]
                if self._normalized[number].startswith(tail) and self._cut_before(
                    sentence, " ".join(words[:cut])
                ):
                    found.add(number)
        return sorted(found)

    def _cut_before(self, sentence: Sentence, head: str) -> bool:
        """True if the sentence before, in the same paragraph, ends with ``head``."""
        previous = self.article.sentence(sentence.number - 1)
        if previous is None or previous.paragraph != sentence.paragraph:
            return False
        text = self._normalized[previous.number]
        if not text.endswith(head):
            return False
        return len(text) == len(head) or not text[-len(head) - 1].isalnum()

    def _names_person(self, number: int, forms: list[str]) -> bool:
        text = self._normalized.get(number)
        if text is None or number in self._injected:
            return False
        return any(name_pattern(f).search(text) for f in forms)

    def _is_person_cached(self, name: str) -> bool:
        """A person's name by its shape, and not written as a body's anywhere in the article."""
        if name not in self._person:
            text = self.article.text
            shaped = self.reader.is_person(name) or self.reader.written_as_name(text, name)
            self._person[name] = shaped and not self.reader.reads_as_body(text, name)
        return self._person[name]

    def _name_start(self, name: str) -> str:
        """A name code read after a title's object that took the object's last word with it
        ("President of Sierra Leone Fatmata Koroma said" read as "Leone Fatmata Koroma")
        starts after that word when the article also writes it ending a phrase ("Sierra
        Leone's", "in Sierra Leone,"): a given name is followed by the rest of a name."""
        words = name.split()
        if len(words) < 3 or CJK.search(name) or not self.reader.is_person(" ".join(words[1:])):
            return name
        pattern = rf"(?<![\w'’-]){re.escape(words[0])}(?![\w-])(?!\s+[A-Z\u00C0-\u024F])"
        return " ".join(words[1:]) if re.search(pattern, self.article.text) else name

    # --- answers -------------------------------------------------------------------------------

    def quotes(self, numbers: Iterable[int]) -> list[str]:
        found = (self.article.sentence(n) for n in dict.fromkeys(numbers))
        return [s.text for s in found if s is not None]

    def supporting_sentence(self, claim: str) -> Sentence | None:
        """The sentence that best backs a claim, if one backs it well enough."""
        best = max(self.article.sentences, key=lambda s: coverage(claim, s.text), default=None)
        if best is not None and coverage(claim, best.text) >= self.claim_threshold:
            return best
        return None

    # --- who speaks ------------------------------------------------------------------------

    def speaker(self, sentence: Sentence, officials: Sequence[str]) -> str:
        """The official named in the sentence (first written), else in its paragraph, else,
        for a quoted paragraph, on the line that introduces or signs it ("Mayor Tom Gadsby
        said:" above it; "The Honourable Anita Thorsteinson, Minister of Housing" below it)."""
        group = self._paragraphs[sentence.paragraph]
        for pool in ([sentence], group, self._quote_attribution(sentence.paragraph)):
            named = [
                (position, name)
                for name in officials
                for s in pool
                if (position := self._first_mention(s, name)) is not None
            ]
            if named:
                return min(named)[1]
        return ""

    def _quote_attribution(self, paragraph: int) -> list[Sentence]:
        """The line that introduces a quoted paragraph ("... said:") or, in a release's quotes
        section, the short line under it that signs it; [] for a paragraph not quoted."""
        group = self._paragraphs[paragraph]
        if not group or group[0].text.lstrip()[:1] not in _OPENING_QUOTES:
            return []
        above = self._paragraphs.get(paragraph - 1, [])
        if above and above[-1].text.rstrip().endswith(":"):
            return above[-1:]
        below = self._paragraphs.get(paragraph + 1, [])
        signed = below and len(below) == 1 and len(below[0].text.split()) <= 30
        if signed and below[0].text.lstrip()[:1] not in _OPENING_QUOTES:
            return below
        return []

    def _first_mention(self, sentence: Sentence, name: str) -> int | None:
        """Where the sentence first writes ``name`` or a short form of it, or None."""
        text = normalize(sentence.text)
        places = [
            text.find(form)
            for form in (normalize(name), *self.short_forms(name))
            if form and form in text
        ]
        return min(places) if places else None


@lru_cache(maxsize=4096)
def text_pattern(key: str) -> re.Pattern[str]:
    """The normalised name as a pattern over the raw text (any case, spacing, accents)."""
    if CJK.search(key):
        return re.compile(re.escape(key).replace("·", "[·•・‧]"))
    parts = [re.escape(p) for p in key.split()]
    return re.compile(r"(?<![\w'-])" + r"\s+".join(parts) + r"(?![\w])")

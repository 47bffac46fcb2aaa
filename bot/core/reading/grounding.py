"""Keep only what the article backs, and pull every quote out of the article itself.

The model cites sentence numbers; each claim is checked against those sentences with the
comparisons of ``bot.core.reading.matching``. What is read from the text itself (titles,
lists, bylines, commitment subjects) comes from the article's language reader
(``bot.core.reading.readers``); which sentences are evidence and where they name whom, from
``bot.core.reading.evidence``.

The code checks claims; it does not overrule what the article backs. Where a title can come
from, in this order:
1. the model's title (or the title it put in the name field, "Lieutenant Governor Jane Doe"),
   kept where it stands as a phrase in the clause naming the person, a neighbouring clause
   that names nobody else (so a neighbour's title in a roll-call is not passed on), or a
   position the text writes for this person (below);
2. otherwise the position the text writes for the person: the words right before the name
   ("Gov. Maria Okafor-Reyes"), the clause right after it ("Pan Ruoxi, vice-governor of
   Jiangxi"), the clause that opens the sentence ("Mayor of X, Tom Gadsby, said:"), or the
   plural title over a list the name is in ("Reps. A (D-N.M.), B and C", "leaders of X,
   including A, B and C", "市领导A、B、C");
3. otherwise, when the model gave a title and a sentence naming the person writes positions
   the code could not tie to the name, the person is kept with no title (shown as such)
   rather than lost.
Dropped: names the article never writes, credit lines, names only inside injected
instructions, names that read as a body or place ("High-tech Zone", "Corvane Medical,
Inc."), and a surname used alone with no title beside it. Quotes are exact slices of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from bot.core.reading.chunking import NumberedArticle, Sentence
from bot.core.reading.evidence import Evidence, text_pattern
from bot.core.reading.matching import (
    aligned,
    coverage,
    has_phrase,
    names_another,
    normalize,
    terms,
)
from bot.core.reading.merging import (
    canonical_name,
    dedupe_commitments,
    merge_commitment_drafts,
    merge_official_drafts,
)
from bot.core.reading.script import CJK, clauses
from bot.core.schemas import CitedCommitment, CitedOfficial, Commitment, Official

__all__ = ["Dropped", "Grounder", "coverage", "ground_drafts", "normalize", "terms"]


@dataclass
class Dropped:
    officials: int = 0
    commitments: int = 0


# "Party Secretary (市委书记)": a translated title with the article's own words beside it.
_TRANSLATED = re.compile(r"(.+?)\s*[(（]([^()（）]+)[)）]")


def ground_drafts(
    article: NumberedArticle,
    official_drafts: list[CitedOfficial],
    commitment_drafts: list[CitedCommitment],
    *,
    read_commitments: bool = False,
) -> tuple[list[Official], list[Commitment], Grounder]:
    """Merge, ground and attribute what the model read: the digest's one grounding step.

    ``read_commitments`` adds the plain commitments code reads itself (small models miss most).
    """
    grounder = Grounder(article)
    merged = merge_official_drafts(grounder.clean(d) for d in official_drafts)
    merged += grounder.listed_people(d.name for d in merged)
    names = [d.name for d in merged]
    officials = [o for d in merged if (o := grounder.official(d, names)) is not None]
    officials.sort(key=lambda o: o.sentences[0] if o.sentences else 0)
    full_names = [o.name for o in officials]
    if read_commitments:
        commitment_drafts = [*commitment_drafts, *grounder.stated_commitments(full_names)]
    commitments = []
    for draft in merge_commitment_drafts(commitment_drafts):
        draft = draft.model_copy(update={"actor": canonical_name(draft.actor, full_names)})
        if (grounded := grounder.commitment(draft)) is not None:
            commitments.append(grounded)
    return officials, dedupe_commitments(commitments), grounder


class Grounder(Evidence):
    """Checks drafts against one article; counts what it drops."""

    def __init__(self, article: NumberedArticle) -> None:
        super().__init__(article)
        self.dropped = Dropped()

    # --- officials ---------------------------------------------------------------------------

    def clean(self, draft: CitedOfficial) -> CitedOfficial:
        """The draft with the name spelt as the article spells it, and a title the model put
        in the name field moved to the title."""
        title, name = self.reader.split_title(self._as_written(" ".join(draft.name.split())))
        title, name = self._written_split(title, name)
        if name == draft.name:
            return draft
        claimed = draft.title.strip() or title
        return draft.model_copy(update={"name": name, "title": claimed})

    def _written_split(self, title: str, name: str) -> tuple[str, str]:
        """Where a title ends in the name field, as the article writes the name: "Vice
        President for Eastern and Southern Africa Priya Raghunathan" is Priya Raghunathan
        when the article never writes "Africa Priya Raghunathan"."""
        words = name.split()
        if not title or len(words) < 3 or CJK.search(name) or self.index.naming(normalize(name)):
            return title, name
        for cut in range(1, len(words) - 1):
            shorter = " ".join(words[cut:])
            if self.index.naming(normalize(shorter)) and self.reader.is_person(shorter):
                return f"{title} {' '.join(words[:cut])}", shorter
        return title, name

    def official(self, draft: CitedOfficial, known_names: Iterable[str]) -> Official | None:
        draft = self.clean(draft)
        name = " ".join(draft.name.split())
        key = normalize(name)
        mentions = self._mentions(key)
        known_names = list(known_names)
        alone = self._is_surname_only(name, known_names)
        person = alone or self._is_person_cached(name)
        if not person or not mentions or self.is_byline_name(key):
            self.dropped.officials += 1
            return None
        forms = [key, *self.short_forms(name)]
        others = self._others(key, known_names)
        cited = [n for n in dict.fromkeys(draft.sentences) if self._names_person(n, forms)]
        sentences = cited or mentions[:1]
        # Computed as the search reaches them: a title is usually found in the first window;
        # then the positions the text writes for this person (beside the name, over a list).
        own = (self._window(n, forms, others) for n in sentences)
        roles = (span for _, _, span in self._roles(name, others))
        windows = _TitleWindows(chain(own, roles))
        title, title_window = self._grounded_part(draft.title, windows)
        organization, _ = self._grounded_part(draft.organization, windows)
        if not title and (role := self.role_in_text(name, others)) is not None:
            # The model gave no title, or one the text does not put next to the name:
            # read the position the article writes beside the name instead.
            title, derived_organization, title_window = role
            organization = organization or derived_organization
        if not title and (alone or not draft.title.strip() or not self._positioned(key)):
            self.dropped.officials += 1  # no position anywhere beside the name
            return None
        quote_window = title_window or windows.first()
        quote = self.article.text[quote_window[0] : quote_window[1]] if quote_window else ""
        return Official(
            name=name,
            title=title,
            organization=organization,
            quote=quote or self.article.sentences[mentions[0] - 1].text,
            sentences=sentences,
        )

    def role_in_text(self, name: str, others: list[str]) -> tuple[str, str, tuple[int, int]] | None:
        """(title, organization, span) of the position the article writes beside the name,
        or over a list the name is in ("Reps. A (D-N.M.), B (R-Minn.) and C")."""
        return next(self._roles(name, others), None)

    def _roles(self, name: str, others: list[str]) -> Iterator[tuple[str, str, tuple[int, int]]]:
        """Every position the text writes for the person, in the order of the mentions."""
        key = normalize(name)
        for number in self._mentions(key):
            sentence = self.article.sentences[number - 1]
            if self._is_credit(sentence, key):
                continue
            for start, end in self._spans(sentence, key):
                for read in (self.reader.role_beside, self.reader.list_role):
                    role = read(sentence.text, start, end, others)
                    if role is not None:
                        span = (sentence.start + role.span[0], sentence.start + role.span[1])
                        yield role.title, role.organization, span
                        break

    def _positioned(self, key: str) -> bool:
        """True if a sentence naming the person gives positions (a title the code could not
        tie to the name) and does not call the person a reporter, resident or the like: the
        person is kept with no title rather than lost."""
        for number in self._mentions(key):
            sentence = self.article.sentences[number - 1]
            if self._is_credit(sentence, key) or not self.reader.has_position(sentence.text):
                continue
            spans = self._spans(sentence, key)
            if spans and not any(self.reader.is_not_office(sentence.text, *s) for s in spans):
                return True
        return False

    def _is_surname_only(self, name: str, known_names: list[str]) -> bool:
        """A surname the article uses alone for an official it never names in full ("said
        Sawatzky, the commission's general manager"); kept only with a title beside it."""
        if not self.reader.is_surname(name) or self.reader.reads_as_body(self.article.text, name):
            return False
        key = normalize(name)
        return not any(key in normalize(k).split() and normalize(k) != key for k in known_names)

    def _others(self, key: str, known_names: Iterable[str]) -> list[str]:
        """Other people's names (not bodies: "Voltaris" may stand in a title)."""
        found = []
        for name in known_names:
            other = normalize(name)
            if not self._is_person_cached(name):
                continue
            if other and other != key and other not in key and key not in other:
                found.append(other)
        return found

    def _window(self, number: int, forms: list[str], others: list[str]) -> tuple[int, int] | None:
        """The words that belong to the person: their clause, and the clause after it (or a
        clause opening the sentence, or a 、-joined title before it) if it names nobody else.

        Within a clause shared with someone else ("Sen. A (D-N.Y.) and Rep. B"), only the
        stretch between the other names counts, without the title that leads into the next.
        """
        sentence = self.article.sentence(number)
        if sentence is None:
            return None
        text, folded = sentence.text, aligned(sentence.text)
        spans = [(m.start(), m.end()) for f in forms for m in text_pattern(f).finditer(folded)]
        if not spans:
            return None
        own = min(spans)
        present = [o for o in others if o in self._normalized[number]]
        theirs = sorted(
            (m.start(), m.end()) for o in present for m in text_pattern(o).finditer(folded)
        )
        segments = clauses(text)
        here = next(i for i, (s, e) in enumerate(segments) if s <= own[0] <= e)
        first = last = here
        if here > 0 and not names_another(text[slice(*segments[here - 1])], present):
            joiner = text[segments[here - 1][1]]
            if joiner == "、" or (here == 1 and joiner in ",，"):
                first = here - 1
        if (
            here + 1 < len(segments)
            and not names_another(text[slice(*segments[here + 1])], present)
            and text[segments[here][1]] not in ";；"
        ):
            last = here + 1
        start, end = segments[first][0], segments[last][1]
        for other_start, other_end in theirs:
            if other_end <= own[0]:
                start = max(start, other_end)
            elif other_start >= own[1]:
                end = min(end, _lead_in(text, own[1], other_start))
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip(" ,;，；、"))
        end = start + len(text[start:end].rstrip(" ,;，；、"))
        return (sentence.start + start, sentence.start + end) if end > start else None

    def _grounded_part(
        self, claimed: str, windows: Iterable[tuple[int, int]]
    ) -> tuple[str, tuple[int, int] | None]:
        """Keep each ';'-separated part of a title that stands as a phrase near the name.

        A part written "Translation (original)", as asked for articles in another language,
        is kept whole when either side stands in the text: the other is its translation.
        """
        kept: list[str] = []
        where: tuple[int, int] | None = None
        for part in (p.strip() for p in claimed.split(";")):
            if not part:
                continue
            found = _TRANSLATED.fullmatch(part)
            if found and bool(CJK.search(found.group(1))) == bool(CJK.search(found.group(2))):
                found = None  # "Additional Secretary (Planning)": one title, not a translation
            checks = [part, *(found.groups() if found else ())]
            for window in windows:
                near = self.article.text[window[0] : window[1]]
                if any(has_phrase(c.strip(), near) for c in checks if c.strip()):
                    kept.append(part)
                    where = where or window
                    break
        return "; ".join(dict.fromkeys(kept)), where

    # --- commitments ---------------------------------------------------------------------------

    def commitment(self, draft: CitedCommitment) -> Commitment | None:
        actor = " ".join(draft.actor.split())
        if not actor or coverage(actor, self._vocabulary) < 0.75:
            self.dropped.commitments += 1
            return None
        cited = [
            n
            for n in dict.fromkeys(draft.sentences)
            if self.article.sentence(n) and n not in self._injected
        ]
        # Models often cite a neighbour of the right sentence; look one either side.
        candidates = list(dict.fromkeys(c for n in cited for c in (n, n - 1, n + 1)))
        scored = [
            (coverage(draft.commitment, s.text), s)
            for n in candidates
            if (s := self.article.sentence(n)) is not None and n not in self._injected
        ]
        supporting = [(score, s) for score, s in scored if score >= self.claim_threshold]
        if not supporting and len(cited) > 1:
            # A commitment told over two sentences ("will ... by 2029. It will also ...").
            together = [s for _, s in scored if s.number in cited]
            if coverage(draft.commitment, " ".join(s.text for s in together)) >= 0.6:
                supporting = [(coverage(draft.commitment, s.text), s) for s in together]
        if not supporting:
            self.dropped.commitments += 1
            return None
        best = max(supporting, key=lambda pair: pair[0])[1]
        attributed = self._actor_for(actor, best)
        deadline = draft.deadline.strip() if draft.deadline else None
        if deadline and coverage(deadline, " ".join(s.text for _, s in supporting)) < 0.5:
            deadline = None
        return Commitment(
            actor=attributed,
            commitment=" ".join(draft.commitment.split()),
            deadline=deadline or None,
            quote=best.text,
            sentences=sorted(s.number for _, s in supporting),
        )

    def _actor_for(self, actor: str, sentence: Sentence) -> str:
        """The actor if its paragraph names it or the sentence's subject is generic ("the
        city", "he would", "We'll"); else the sentence's own named "X will" subject."""
        if self._is_person_cached(actor):
            # A person's name is matched as written (or by surname), never fuzzily.
            forms = [normalize(actor), *self.short_forms(actor)]
            group = self._paragraphs[sentence.paragraph]
            if any(self._names_person(s.number, forms) for s in group):
                return actor
        elif coverage(actor, self._paragraph_words[sentence.paragraph]) >= 0.75:
            return actor
        subject = self.reader.subject(sentence.text)
        if subject is None or subject[1] or not subject[0]:
            return actor  # the actor is in the article (checked) and the sentence names no one
        return subject[0]

    def stated_commitments(self, officials: Sequence[str] = ()) -> list[CitedCommitment]:
        """Commitments, plans and calls on others the text states plainly, read by code.

        For small models, which miss most of them. The actor is the body or place the
        sentence names before the commitment ("Fenghe will build", "said the Commission would"),
        unless it names the body only by its kind ("the Government would": the speaker's);
        else the official the sentence names ("Okafor-Reyes said she would"), else the one
        who speaks in its paragraph ("We will replace...", said the minister); a commitment no
        one can be found for is not listed. The commitment is the clause from its mark on.
        """
        found: list[CitedCommitment] = []
        for sentence in self._evidence:
            for actor, what in self.reader.commitments(sentence.text):
                if actor and not self._proper(actor):  # "Plans will be published"
                    actor, what = "", f"{actor} {what}"
                who = actor or self.speaker(sentence, officials)
                if actor and self.reader.is_kind_only(actor):
                    who = self.speaker(sentence, officials) or actor  # "the Ministry will"
                if who and what:
                    found.append(CitedCommitment(actor=who, commitment=what, deadline=None,
                                                 sentences=[sentence.number]))  # fmt: skip
        return found

    def _proper(self, subject: str) -> bool:
        """A name, not a capitalised first word: "Fenghe" is also capitalised mid-sentence
        somewhere in the article, "Plans" and "Passengers" are not."""
        if len(subject.split()) > 1:
            return True
        pattern = re.compile(rf"(?<=[\w,;] ){re.escape(subject)}\b")
        return any(pattern.search(s.text) for s in self._evidence)

    # --- officials the model missed ------------------------------------------------------------

    def listed_people(self, known: Iterable[str]) -> list[CitedOfficial]:
        """People in lists of dignitaries, found by their role written beside the name.

        Small models stop early in a long list of names and titles; this reads the list the
        way ``role_in_text`` does, so everyone added has a verbatim role next to the name.
        A shortened form of a known name ("Kong Xiang" for "Kong Xiangrui") is not new.
        """
        known = list(known)
        seen = {normalize(n) for n in known}
        found: list[CitedOfficial] = []
        for sentence in self._evidence:
            for name in self.reader.listed_names(sentence.text):
                name = self._name_start(self._uncut(sentence, name))
                key = normalize(name)
                if key in seen or canonical_name(name, known) != name or _extends(key, seen):
                    continue
                if not self._is_person_cached(name):
                    continue
                if self.is_byline_name(key):
                    continue
                seen.add(key)
                known.append(name)
                found.append(CitedOfficial(name=name, title="", organization="",
                                           sentences=[sentence.number]))  # fmt: skip
        return found

    def _uncut(self, sentence: Sentence, name: str) -> str:
        """A name that opens a sentence with its initial left at the end of the one before
        ("... and Ch." | "Venkata Rao, Deputy High Commissioner"), made whole again."""
        previous = self.article.sentence(sentence.number - 1)
        if (
            previous is None
            or previous.paragraph != sentence.paragraph
            or not sentence.text.startswith(name)
            or not previous.text.endswith(".")
        ):
            return name
        last = previous.text.split()[-1]
        whole = f"{last} {name}"
        return whole if self.reader.is_person(whole) else name


class _TitleWindows:
    """The stretches of text around a person's name where a title may stand, each computed
    the first time a search needs it."""

    def __init__(self, windows: Iterator[tuple[int, int] | None]) -> None:
        self._pending = windows
        self._done: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        index = 0
        while True:
            if index < len(self._done):
                yield self._done[index]
                index += 1
                continue
            window = next(self._pending, _END)
            if window is _END:
                return
            if window is not None:
                self._done.append(window)

    def first(self) -> tuple[int, int] | None:
        return next(iter(self), None)


_END = (-1, -1)


def _lead_in(text: str, start: int, other: int) -> int:
    """Where the title leading into another name begins ("and Rep. Liam O'Brien")."""
    cut = other
    for word in reversed(list(re.finditer(r"\S+", text[start:other]))):
        token = word.group()
        if (
            not (token[:1].isupper() or token.endswith("."))
            or CJK.search(token)
            or token[-1] in ",;)"
        ):
            break
        cut = start + word.start()
    return cut


def _extends(key: str, known: set[str]) -> bool:
    """True if a name read by code only runs on past a known one ("苗颖对" for "苗颖")."""
    return bool(CJK.search(key)) and any(k and key.startswith(k) for k in known)

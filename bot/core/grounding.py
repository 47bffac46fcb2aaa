"""Keep only what the article backs, and pull every quote out of the article itself.

The model cites sentence numbers; here each claim is checked against those sentences after
normalising case, white space, quote marks and dashes. An official whose name the article
never writes is dropped; so is a commitment whose cited sentences do not say it. A title is
kept only if its words stand next to the person's name, so a neighbour's title in a list of
dignitaries is not passed on. Quotes are exact slices of the article text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.chunking import NumberedArticle, Sentence
from bot.core.schemas import CitedCommitment, CitedOfficial, Commitment, Official

_QUOTES = str.maketrans({c: "'" for c in '‘’‚‛`´′“”„‟″«»「」『』"'})
_DASHES = re.compile(r"[\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SEGMENT_BREAK = re.compile(r"[,;，；、]")
_BYLINE_ROLE = re.compile(
    r"\b(?:reporters?|correspondents?|photographers?|photo by|photos by|editors?|"
    r"written by|text by|intern)\b"
)
# fmt: off
_STOPWORDS = frozenset(
    "the and for with that this from will are was were has have had its their his her our "
    "not but all any can into onto upon than then them they who whom which what when where "
    "also more most such other each been being over under about of to in on at by an a as "
    "is be or it we he she".split()
)
# Words that make a phrase next to a name a position rather than an action.
_TITLE_WORDS = frozenset(
    "mayor governor minister secretary director president chairman chairwoman chair chief "
    "head member professor academician manager officer inspector commissioner ambassador "
    "spokesperson spokesman spokeswoman deputy vice general leader representative delegate "
    "founder ceo cto cfo executive premier chancellor senator mp councillor councilor judge "
    "mr mrs ms dr president-elect editor-in-chief dean rector principal partner adviser advisor "
    "consultant lecturer researcher scientist engineer expert".split()
)
_REPORTING_VERBS = re.compile(r"\b(?:said|says|told|added|noted|stated|pointed|stressed)\b")
# fmt: on


def normalize(text: str) -> str:
    """Case-, space-, quote- and dash-insensitive form used for every comparison."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    return _SPACE.sub(" ", _DASHES.sub("-", text)).strip().casefold()


def terms(text: str) -> set[str]:
    """Content words (crudely stemmed) and, for CJK text, character pairs."""
    normalized = normalize(text)
    found = {w[:6] for w in _WORD.findall(normalized) if len(w) > 2 and w not in _STOPWORDS}
    cjk = "".join(_CJK.findall(normalized))
    found.update(cjk[i : i + 2] for i in range(len(cjk) - 1))
    return {t for t in found if not _CJK.search(t) or len(t) == 2}


def coverage(claim: str, evidence: str) -> float:
    """Share of the claim's content words that the evidence contains."""
    wanted = terms(claim)
    return len(wanted & terms(evidence)) / len(wanted) if wanted else 0.0


def _segments(text: str) -> list[tuple[int, int]]:
    """Clause spans of a sentence, split at commas and semicolons, without the separators."""
    bounds = [0, *(m.end() for m in _SEGMENT_BREAK.finditer(text)), len(text) + 1]
    spans = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1] - 1
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip())
        end = start + len(text[start:end].rstrip(" ;:"))
        if end > start:
            spans.append((start, end))
    return spans


_ROLE_EDGES = re.compile(r"^(?:(?:and|the|with|as|is|was)\s+)+|[\s,;:]+$", re.IGNORECASE)
_ABBREVIATION_END = re.compile(r"\b(?:Co|Ltd|Inc|Corp|Bros|Dept|Univ)\.$")


def _clean_role(text: str) -> str:
    role = _ROLE_EDGES.sub("", " ".join(text.split()))
    return role if _ABBREVIATION_END.search(role) else role.rstrip(".")


def _looks_like_role(role: str) -> bool:
    words = normalize(role).split()
    return (
        0 < len(words) <= 25
        and any(w.strip("()") in _TITLE_WORDS for w in words)
        and not _REPORTING_VERBS.search(normalize(role))
    )


def _split_role(role: str) -> tuple[str, str]:
    """'deputy director of the X Center' -> ('deputy director', 'X Center')."""
    title, sep, organization = role.partition(" of ")
    second_role = re.search(r"\band\s+([\w-]+)", organization)
    if (
        not sep
        or len(title.split()) > 4
        or (second_role and second_role[1].lower() in _TITLE_WORDS)
    ):
        return role, ""  # "secretary of X and president of Y" stays whole
    return title.strip(), re.sub(r"^the\s+", "", organization.strip(), flags=re.IGNORECASE)


_WILL_SUBJECT = re.compile(
    r"^(?:[^,]{0,100}, )?(?:the |The )?((?:[A-Z][\w'’-]*)(?: (?:of|and|for|the|[A-Z][\w'’-]*))"
    r"{0,10}) will\b"
)
_PLEDGE_END = re.compile(r"[,;]\s")
_NAME_WORD = re.compile(r"[A-Z][a-z]+(?:[-'’][A-Za-z]+)?")
_ORG_WORDS = frozenset(
    "committee society university association branch center centre ministry department agency "
    "group company government city district province county bureau office council institute "
    "academy school college bank party union federation court police army corporation".split()
)


def _looks_like_person(name: str) -> bool:
    """Two or more capitalised words (or 2-4 CJK characters), not a place or a body."""
    if _CJK.search(name):
        return 2 <= len(name.replace(" ", "")) <= 4
    capitalised = [w for w in name.split() if w[:1].isupper()]
    return len(capitalised) >= 2 and not all(
        w.lower() in _ORG_WORDS or w.lower() in _TITLE_WORDS for w in capitalised
    )


def _is_name(candidate: str) -> bool:
    words = [w.lower() for w in candidate.split()]
    return not any(w in _TITLE_WORDS or w in _ORG_WORDS for w in words)


def _trailing_name(words: list[str]) -> str | None:
    """The 2- or 3-word name that ends a clause, right after a role or an organisation."""
    for size in (2, 3):
        if len(words) < size:
            break
        candidate, before = words[-size:], words[:-size]
        if not all(_NAME_WORD.fullmatch(w) for w in candidate) or not _is_name(" ".join(candidate)):
            continue
        # "Committee Zhang Aijun", "Mayor Xu Xiaoxiong" - not "Industry and Information ..."
        if not before or before[-1][:1].isupper() or before[-1].lower() in _TITLE_WORDS:
            return " ".join(candidate)
    return None


def _listed_name(
    piece: str, segments: list[tuple[int, int]], index: int, sentence: str
) -> str | None:
    """A name standing in a list with its role: "Mayor Xu Xiaoxiong" or "Sun Xing, director"."""
    words = piece.split()
    name = _trailing_name(words)
    if name is not None:
        role = _clean_role(" ".join(words[: -len(name.split())]))
        if role and len(role.split()) <= 20 and _looks_like_role(role):
            return name
        if role:
            return None
    if name is None or index + 1 >= len(segments):
        return None
    start, end = segments[index + 1]  # a bare name, its role in the next clause
    return name if _looks_like_role(_clean_role(sentence[start:end])) else None


@dataclass
class Dropped:
    officials: int = 0
    commitments: int = 0


class Grounder:
    """Checks drafts against one article; counts what it drops."""

    title_threshold = 0.6
    claim_threshold = 0.5

    def __init__(self, article: NumberedArticle) -> None:
        self.article = article
        self.text = normalize(article.text)
        self.dropped = Dropped()
        self._normalized = {s.number: normalize(s.text) for s in article.sentences}

    # --- officials ---------------------------------------------------------------------------

    def official(self, draft: CitedOfficial, known_names: Iterable[str]) -> Official | None:
        name = " ".join(draft.name.split())
        key = normalize(name)
        if not _looks_like_person(name) or key not in self.text or self.is_byline_name(key):
            self.dropped.officials += 1
            return None
        cited = [n for n in dict.fromkeys(draft.sentences) if key in self._normalized.get(n, "")]
        mentions = cited or [s.number for s in self._sentences_naming(key)][:1]
        others = [normalize(n) for n in known_names if normalize(n) not in (key, "")]
        others = [o for o in others if o not in key and key not in o]
        found = (self._window(self.article.sentence(n), key, others) for n in mentions)
        windows = [w for w in found if w is not None]
        if not windows:
            self.dropped.officials += 1
            return None
        title, title_window = self._grounded_part(draft.title, windows, mentions, others)
        organization, _ = self._grounded_part(draft.organization, windows, mentions, others)
        if not title and (role := self.role_in_text(name, others)) is not None:
            # The model gave no title, or one the text does not put next to the name:
            # read the position the article writes beside the name instead.
            title, derived_organization, title_window = role
            organization = organization or derived_organization
        quote_window = title_window or windows[0]
        return Official(
            name=name,
            title=title,
            organization=organization,
            quote=self.article.text[quote_window[0] : quote_window[1]],
            sentences=mentions,
        )

    def role_in_text(self, name: str, others: list[str]) -> tuple[str, str, tuple[int, int]] | None:
        """(title, organization, span) of the position the article writes beside the name.

        Lists of dignitaries put each role either in the name's own clause ("Mayor Xu
        Xiaoxiong") or in the clause right after a bare name ("Sun Xing, deputy director of
        ..."), never before it, so a neighbour's role is not borrowed.
        """
        pattern = re.compile(r"\s+".join(map(re.escape, name.split())), re.IGNORECASE)
        for sentence in self._sentences_naming(normalize(name)):
            if self._is_byline(sentence, normalize(name)):
                continue
            segments = _segments(sentence.text)
            for index, (start, end) in enumerate(segments):
                piece = sentence.text[start:end]
                if not (found := pattern.search(piece)):
                    continue
                role = _clean_role(piece[: found.start()] + " " + piece[found.end() :])
                span = (start, end)
                if not role and index + 1 < len(segments):
                    following = segments[index + 1]
                    role = _clean_role(sentence.text[following[0] : following[1]])
                    span = (start, following[1])
                if _looks_like_role(role) and not any(o in normalize(role) for o in others):
                    title, organization = _split_role(role)
                    return title, organization, (sentence.start + span[0], sentence.start + span[1])
                break
        return None

    def is_byline_name(self, key: str) -> bool:
        """True if every mention of the name is a credit line (reporter, photographer...)."""
        naming = self._sentences_naming(key)
        return bool(naming) and all(self._is_byline(s, key) for s in naming)

    def _is_byline(self, sentence: Sentence, key: str) -> bool:
        text = self._normalized[sentence.number]
        if len(text.split()) > 30:
            return False
        position = text.find(key)
        roles = [m.end() for m in _BYLINE_ROLE.finditer(text) if m.end() <= position]
        return bool(roles) and len(text[roles[-1] : position].split()) <= 5

    def _sentences_naming(self, key: str) -> list[Sentence]:
        return [s for s in self.article.sentences if key in self._normalized[s.number]]

    def _window(
        self, sentence: Sentence | None, key: str, others: list[str]
    ) -> tuple[int, int] | None:
        """The clause naming the person, widened to neighbours that name nobody else."""
        if sentence is None:
            return None
        text = sentence.text
        bounds = [0, *(m.end() for m in _SEGMENT_BREAK.finditer(text)), len(text) + 1]
        segments = [(bounds[i], bounds[i + 1] - 1) for i in range(len(bounds) - 1)]
        here = next((i for i, (s, e) in enumerate(segments) if key in normalize(text[s:e])), None)
        if here is None:
            return None
        first = last = here
        if here > 0 and not self._names_other(text, segments[here - 1], others):
            first = here - 1
        if here + 1 < len(segments) and not self._names_other(text, segments[here + 1], others):
            last = here + 1
        start, end = segments[first][0], segments[last][1]
        piece = text[start:end]
        start += len(piece) - len(piece.lstrip(" ,;，；、"))
        end = start + len(text[start:end].rstrip(" ,;，；、"))
        return sentence.start + start, sentence.start + end

    @staticmethod
    def _names_other(text: str, segment: tuple[int, int], others: list[str]) -> bool:
        piece = normalize(text[segment[0] : segment[1]])
        return any(other in piece for other in others)

    def _grounded_part(
        self,
        claimed: str,
        windows: list[tuple[int, int]],
        mentions: list[int],
        others: list[str],
    ) -> tuple[str, tuple[int, int] | None]:
        """Keep each ';'-separated part of a title that stands near the name."""
        kept: list[str] = []
        where: tuple[int, int] | None = None
        for part in (p.strip() for p in claimed.split(";")):
            if not part or not terms(part):
                continue
            for window in windows:
                if coverage(part, self.article.text[window[0] : window[1]]) >= self.title_threshold:
                    kept.append(part)
                    where = where or window
                    break
            else:
                # A lone mention in a sentence that names nobody else may carry the title
                # further away ("He is the mayor of ...").
                lone = [
                    self.article.sentence(n)
                    for n in mentions
                    if not any(o in self._normalized.get(n, "") for o in others)
                ]
                if any(s and coverage(part, s.text) >= self.title_threshold for s in lone):
                    kept.append(part)
        return "; ".join(dict.fromkeys(kept)), where

    # --- commitments ---------------------------------------------------------------------------

    def commitment(self, draft: CitedCommitment) -> Commitment | None:
        actor = " ".join(draft.actor.split())
        if not actor or coverage(actor, self.article.text) < 0.75:
            self.dropped.commitments += 1
            return None
        cited = [n for n in dict.fromkeys(draft.sentences) if self.article.sentence(n)]
        # Models often cite a neighbour of the right sentence; look one either side.
        candidates = list(dict.fromkeys(c for n in cited for c in (n, n - 1, n + 1)))
        scored = [
            (coverage(draft.commitment, s.text), s)
            for n in candidates
            if (s := self.article.sentence(n)) is not None
        ]
        supporting = [(score, s) for score, s in scored if score >= self.claim_threshold]
        if not supporting:
            self.dropped.commitments += 1
            return None
        best = max(supporting, key=lambda pair: pair[0])[1]
        attributed = self._actor_for(actor, best)
        if attributed is None:
            self.dropped.commitments += 1
            return None
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

    def _actor_for(self, actor: str, sentence: Sentence) -> str | None:
        """The actor if its paragraph names it; else the sentence's own "X will" subject."""
        paragraph = " ".join(
            s.text for s in self.article.sentences if s.paragraph == sentence.paragraph
        )
        if coverage(actor, paragraph) >= 0.75:
            return actor
        subject = _WILL_SUBJECT.match(sentence.text)
        return subject.group(1) if subject else None

    def stated_pledges(self) -> list[CitedCommitment]:
        """Sentences of the form "<Body or Person> will <do something>", read by code.

        For small models, which miss most pledges: the actor is the sentence's own subject
        (capitalised words only, so "Lightweight, integrated, new Ecology will become ..."
        is not a pledge), and the commitment is the clause after "will".
        """
        found = []
        for sentence in self.article.sentences:
            subject = _WILL_SUBJECT.match(sentence.text)
            if subject is None or subject.group(1).lower() in {"he", "she", "it", "this"}:
                continue
            rest = sentence.text[subject.end() :].strip()
            words = rest.split()
            clause = " ".join(words[:25])
            if (cut := _PLEDGE_END.search(clause)) and len(clause[: cut.start()].split()) >= 6:
                clause = clause[: cut.start()]
            found.append(
                CitedCommitment(
                    actor=subject.group(1),
                    commitment=clause.rstrip(".,; "),
                    deadline=None,
                    sentences=[sentence.number],
                )
            )
        return found

    # --- officials the model missed ------------------------------------------------------------

    def listed_people(self, known: Iterable[str]) -> list[CitedOfficial]:
        """People in lists of dignitaries, found by their role written beside the name.

        Small models stop early in a long list of names and titles; this reads the list the
        way ``role_in_text`` does, so everyone added has a verbatim role next to the name.
        """
        seen = {normalize(n) for n in known}
        found: list[CitedOfficial] = []
        for sentence in self.article.sentences:
            segments = _segments(sentence.text)
            for index, (start, end) in enumerate(segments):
                piece = sentence.text[start:end]
                name = _listed_name(piece, segments, index, sentence.text)
                if name is None or normalize(name) in seen:
                    continue
                if self.is_byline_name(normalize(name)):
                    continue
                seen.add(normalize(name))
                found.append(CitedOfficial(name=name, title="", organization="",
                                           sentences=[sentence.number]))  # fmt: skip
        return found

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

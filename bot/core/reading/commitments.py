"""Commitments a reader can trust: only what someone is committed to, once each, to who acts.

Runs on grounded commitments (each quotes the sentence that states it). Press writing states
a commitment with a mark: a modal ("will", "would", "shall", "must", "should"), an intention
("plans to", "is expected to", "committed to"), a pledging or funding act with its figure
("pledged NOK 1.2 billion", "announced an allocation of $30 million"), an ongoing programme
("is investing $7.5 million"), a call on others ("urged Congress to", "It is hoped that X
will"), a deadline ("... to open a corridor by 2028"), or in Chinese 将, 要, 力争, 确保, 计划,
要求, 希望, 到2027年. A sentence is cut into *commitment units*, each from one mark to the next (a
clause coordinated with "and" that carries its own deadline is a unit of its own: "build 40
stations by 2027 and put 3,000 trucks into service by 2028"). Then:

- a commitment whose words lie outside every unit of its sentences is reported narrative or a
  past action ("we discussed the plan", "signed an agreement", "has invested"): dropped;
- commitments saying the same unit, or mostly the same words, are one commitment: one entry,
  with every sentence it rests on, given to the actor the sentence names before the commitment;
- a call on others goes to those called on (the schema has no field for the caller);
- for small models the text is the unit itself, trimmed at a clause boundary: the article's
  own words, never a paraphrase with words the article does not have.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.core.reading.chunking import NumberedArticle, Sentence
from bot.core.reading.matching import normalize, words
from bot.core.reading.script import CJK, SENTENCE_ENDS, clause_marks
from bot.core.schemas import Commitment

# Words of the article's own clause a small model's commitment keeps; cut at a clause break.
MAX_WORDS = 30
MAX_CJK_CHARS = 60
# Commitments sharing this much of their words (of the shorter) are the same commitment.
SAME_WORDS = 0.8

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)
_SEASON = r"(?:spring|summer|fall|autumn|winter)"
_DATE = (
    rf"(?:20\d\d|{_MONTH}(?:\s+\d{{1,2}})?(?:,?\s+20\d\d)?|{_SEASON}(?:\s+20\d\d)?"
    rf"|(?:this|next)\s+(?:year|month|week|{_SEASON})|\d+\s+(?:days|weeks|months|years))"
)
# "by the end of 2027", "before June 2026", "within 90 days": a date a commitment is held to.
_EN_DEADLINE = re.compile(
    r"\b(?i:by|before|until|within|no\s+later\s+than)\s+(?:the\s+)?"
    r"(?:(?:end|middle|start|beginning|first\s+half|second\s+half|"
    r"(?:first|second|third|fourth)\s+quarter)\s+of\s+(?:the\s+)?|mid-|early\s+|late\s+)?"
    rf"{_DATE}\b"
)
_ZH_DEADLINE = re.compile(r"到20\d\d年|20\d\d年底?前|年内|年底前|月底前|\d+月\d*日?前")

_FIGURE = r"(?:[$€£₹¥]|\b(?:Rs|KSh|NOK|SEK|EUR|GBP|CAD|USD|AUD|A\$)|\d)"
# Marks that open a commitment, in English (lower case: "Will" and "Grant" are also names).
_EN_MARK = re.compile(
    r"\b(?:will|would|shall|must|should)\b|\b[A-Za-z]+'ll\b"
    r"|\b(?:plans?|planned|planning|aims?|aimed|aiming|intends?|intended|expects?|expected|"
    r"seeks?|sought|strives?|hopes?|hoped|wants?|commits?|committed|pledges?|pledged|"
    r"promises?|promised|vows?|vowed|undertakes?|undertook|offers?|offered|agrees?|agreed|"
    r"decides?|decided|proposes?|proposed|prepared|ready|set|scheduled|going)"
    r"\s+to\s+(?!the\b|an?\b|its\b|their\b)[a-z]"
    r"|\b(?:pledged|pledges|promised|promises|vowed|vows|guaranteed|guarantees|assured|assures|"
    r"committed|insisted|proposed|proposes)\s+(?:[a-z]+\s+)?that\b"
    r"|\b(?:announced|announces|announcing|pledged|pledges|pledging|allocated|allocates|"
    r"earmarked|earmarks|approved|approves|awarded|awards|sanctioned|sanctions|unveiled|"
    r"unveils|offered|offers|granted|grants|invests|contributes|provides|commits|funds)\b"
    rf"(?=(?:\s+[\w'’-]+){{0,3}}?\s+{_FIGURE})"
    r"|\b(?:is|are|am)\s+(?:also\s+|now\s+|currently\s+|still\s+)?(?![a-z]*thing\b)[a-z]{3,}ing\b"
    r"|\b(?:proposed|proposes|proposing)\s+(?:a|an|the)\b"
)
# Calls on others: "urged Congress to pass", "demanded that all counties should protect",
# "It is hoped that the merchants will continue". ``who`` is those called on.
_EN_CALL = re.compile(
    r"(?<![\w-])(?:urged?|urges|urging|called\s+on|calls?\s+on|calling\s+on|asked|asks|"
    r"asking|requested|requests|required|requires|directed|directs|instructed|instructs|"
    r"appealed\s+to|appeals\s+to|encouraged|encourages|invited|invites)\s+"
    r"(?P<who>[^.;:]{1,120}?)\s+to\s+(?P<body>[a-z]+)"
    r"|(?:\b[Ii]t\s+is\s+hoped|\b(?:hopes?|hoped|demanded|demands|required|requires|"
    r"requested|requests|asked|asks|urged|urges))\s+that\s+(?P<who2>[^.;:]{1,120}?)\s+"
    r"(?P<body2>(?:will|would|shall|should|must|can|could|be|continue|further)\b)"
)
_PRONOUN = frozenset("him her them us me you it himself herself themselves".split())
_MODAL_BEFORE = re.compile(r"\b(?:will|would|shall|'ll|plans?\s+to|going\s+to)\s+(?:\w+\s+)?$")

_ZH_MARK = re.compile(
    r"将(?![近军领士])|(?<![主重需只纪摘提概简首必想不])要(?![求素点闻件])"
    r"|必须|力争|争取|确保|计划|拟(?!定)|承诺(?![制书])|预计"
)
_ZH_CALL = re.compile(
    r"(?:要求|希望|号召|呼吁|敦促)[，,：:]?(?P<who>[^，。；：,;:]{2,20}?)"
    r"(?P<body>要|将|能|继续|进一步|切实|务必|必须|坚持|持续|加快|积极|认真|迅速)"
)
# What joins two commitments that share one mark ("... by 2027 and put ... by 2028").
_EN_AND = re.compile(r",?\s+and\s+(?:also\s+)?")
_ZH_AND = re.compile(r"[，,]?(?:并且|并|同时)")
_TRAILING = re.compile(r"(?:[\s,;:，；：、]|\band\b|\bbut\b|并|和|及)+$")
# Where a commitment's subject starts: after a clause break, "that", a reporting verb, or a
# conjunction ("said the department would", "and we will", "which would").
_EN_SUBJECT_CUT = re.compile(
    r"[,;:]\s+|\b(?:that|said|says|told|tells|added|adds|noted|notes|stated|states|"
    r"explained|confirmed|informed|and|but|while|so|as|if)\s+"
)
# A commitment whose subject is a relative ("..., which would provide water to 14,500 homes")
# goes on with the one before it; so does a Chinese one with no subject of its own ("，并将").
_RELATIVE = re.compile(
    r"(?:(?:of|in|by|under|through|for)\s+)?(?:which|who|whom|whose|where|when)\b", re.IGNORECASE
)
_DETERMINER_BEFORE = re.compile(
    r"\b(?:the|a|an|their|its|his|her|our|your|my|these|those|of|all|such|whose)\s+$",
    re.IGNORECASE,
)
_QUESTION = re.compile(r"\bwhether\b[^,;:]*$|\?[^,;:]*$")
_ZH_GOES_ON = re.compile(r"^(?:并且|并|同时|还|也|且|进而|从而)?$")
_ZH_SUBJECT_CUT = re.compile(r"[，,：:；;]|表示|指出|强调|认为|提出|介绍|说")
# A line of a funding list: "- £310m for the Calderbridge tram extension".
_LIST_AMOUNT = re.compile(
    r"^[\s\-–—•*·]*(?:[$€£₹¥]|(?:Rs|KSh|NOK|SEK|EUR|GBP|CAD|USD|A\$)\.?\s?)\d"
)


@dataclass(frozen=True)
class Unit:
    """One commitment of a sentence, ``start:end`` in it: its subject (the words after "said",
    "that" or a clause break, up to the mark: "the first 12 buses should ...") and ``body``,
    what is pledged from the mark on ("urged X to" is left out of a call's body); ``called``
    is who a call is on."""

    start: int
    end: int
    text: str
    subject: str
    body: str
    called: str = ""


@dataclass(frozen=True)
class _Opening:
    start: int  # where the mark is
    absorbs: int  # marks before this belong to it ("pledged that fees would")
    body: int  # where what is pledged starts
    called: str = ""
    has_subject: bool = True  # a modal's subject stands before it; a clause's is inside


def commitment_units(sentence: str) -> list[Unit]:
    """The commitments a sentence states, in order (none for narrative and past actions)."""
    chinese = CJK.search(sentence) is not None
    openings = _calls(sentence, chinese)
    for mark in (_ZH_MARK if chinese else _EN_MARK).finditer(sentence):
        if not chinese and _QUESTION.search(sentence[: mark.start()]):
            continue  # "asked whether the pledge would survive": a question, not a commitment
        if not chinese and _DETERMINER_BEFORE.search(sentence[: mark.start()]):
            continue  # "their pledges to the Red Cross": a noun, not a commitment
        if not any(o.start <= mark.start() < o.absorbs for o in openings):
            openings.append(_Opening(mark.start(), mark.end(), mark.start()))
    if not chinese and _LIST_AMOUNT.match(sentence):
        openings.append(_Opening(0, 0, 0, has_subject=False))  # "- £310m for the tram"
    deadline = _ZH_DEADLINE if chinese else _EN_DEADLINE
    for found in deadline.finditer(sentence):
        # A deadline with no mark before it in its clause makes that clause a commitment ("to open a
        # corridor by 2028", a headline "... to get piped water by March 2027").
        clause = max((at + 1 for at in clause_marks(sentence, end=found.start())), default=0)
        if not any(o.start < found.start() for o in openings):  # else it is that commitment's
            openings.append(_Opening(clause, clause, clause, has_subject=False))
    openings.sort(key=lambda o: o.start)
    begins: list[int] = []
    kept: list[_Opening] = []
    floor = 0
    for opening in openings:
        begin = opening.start
        if opening.has_subject:
            cuts = (_ZH_SUBJECT_CUT if chinese else _EN_SUBJECT_CUT).finditer(
                sentence, floor, opening.start
            )
            begin = max(max((m.end() for m in cuts), default=floor), floor)
            subject = sentence[begin : opening.start].strip(" ,，")
            goes_on = _ZH_GOES_ON.match(subject) if chinese else _RELATIVE.match(subject)
            if kept and goes_on:
                floor = max(floor, opening.absorbs)
                continue
        kept.append(opening)
        begins.append(max(begin, floor))
        floor = max(floor, opening.absorbs)
    openings = kept
    units: list[Unit] = []
    for index, opening in enumerate(openings):
        begin = begins[index]
        end = begins[index + 1] if index + 1 < len(openings) else len(sentence)
        pieces = _split_by_deadlines(sentence, begin, end, deadline, chinese)
        for number, (piece_start, piece_end) in enumerate(pieces):
            text = _trim(sentence[piece_start:piece_end])
            if not text:
                continue
            first = number == 0
            body_start = max(opening.body, piece_start) if first else piece_start
            body = _trim(sentence[body_start:piece_end]) or text
            subject = _trim(sentence[piece_start:body_start]) if opening.has_subject else ""
            units.append(Unit(piece_start, piece_start + len(text), text, subject, body,
                              opening.called if first else ""))  # fmt: skip
    return units


def _calls(sentence: str, chinese: bool) -> list[_Opening]:
    found = []
    for call in (_ZH_CALL if chinese else _EN_CALL).finditer(sentence):
        if chinese:
            who, body, passive = call.group("who"), call.start("body"), False
        else:
            if _MODAL_BEFORE.search(sentence[: call.start()]):
                continue  # "he will ask the department to report": his own plan
            direct = call.group("who") is not None
            who = call.group("who") if direct else call.group("who2")
            body = call.start("body") if direct else call.start("body2")
            passive = call.group("body2") == "be"
        called = "" if passive else _called(who or "")
        found.append(_Opening(call.start(), call.end(), body, called, has_subject=False))
    return found


def _called(who: str) -> str:
    who = " ".join(who.split()).strip(" ,，")
    who = re.sub(r"^(?:the|The)\s+", "", who)
    if not who or who.lower() in _PRONOUN or len(who.split()) > 12:
        return ""
    return who


def _split_by_deadlines(
    sentence: str, start: int, end: int, deadline: re.Pattern[str], chinese: bool
) -> list[tuple[int, int]]:
    """Cut a unit where "and" joins two clauses that each hold their own deadline."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    for joint in (_ZH_AND if chinese else _EN_AND).finditer(sentence, start, end):
        before = sentence[cursor : joint.start()]
        after = sentence[joint.end() : end]
        if deadline.search(before) and deadline.search(after):
            pieces.append((cursor, joint.start()))
            cursor = joint.end()
    pieces.append((cursor, end))
    return pieces


def _trim(text: str) -> str:
    text = text.strip()
    text = _TRAILING.sub("", text.rstrip(SENTENCE_ENDS + "\"”’'"))
    return text.strip(' ,;:，；："“”')


_PRONOUN_SUBJECT = frozenset("i we he she it they this that which who its their our".split())


def own_clause(unit: Unit, actor: str = "") -> str:
    """What the unit commits to, in the article's words, cut at a clause break near the cap;
    with its subject when that is not the actor ("the first 12 buses should be in service")."""
    subject = normalize(unit.subject)
    plain = not subject or subject in _PRONOUN_SUBJECT
    text = unit.body if plain or _names(subject, actor) else unit.text
    if CJK.search(text):
        if len(text) <= MAX_CJK_CHARS:
            return text
        breaks = clause_marks(text, end=MAX_CJK_CHARS)
        cut = max((b for b in breaks if b >= 15), default=MAX_CJK_CHARS)
        return _trim(text[:cut]) + ("" if cut in breaks else "…")
    tokens = list(re.finditer(r"\S+", text))
    if len(tokens) <= MAX_WORDS:
        return text
    limit = tokens[MAX_WORDS - 1].end()
    breaks = clause_marks(text, end=limit + 1)
    good = [b for b in breaks if len(text[:b].split()) >= 10]
    if good:
        return _trim(text[: good[-1]])
    return _trim(text[:limit]) + "…"


def _names(subject: str, actor: str) -> bool:
    """True if the subject is the actor, or holds it ("the city of Riverton", "Riverton")."""
    actor = normalize(actor)
    return bool(actor) and (actor in subject or subject.removeprefix("the ") in actor)


# --- the commitments of one digest ---------------------------------------------------------------


_UnitsOf = Callable[[Sentence], list[Unit]]


@dataclass
class _Placed:
    """A commitment and the unit of its sentences that says it (None: none does)."""

    item: Commitment
    sentence: Sentence | None
    unit: Unit | None
    index: int  # the unit's place in its sentence


def refine(
    article: NumberedArticle, items: Iterable[Commitment], *, own_words: bool
) -> tuple[list[Commitment], int]:
    """Commitments only, once each, to who will act; (kept, how many were not commitments).

    ``own_words``: replace each commitment's text by its unit's own clause (small models).
    """
    units: dict[int, list[Unit]] = {}

    def units_of(sentence: Sentence) -> list[Unit]:
        if sentence.number not in units:
            units[sentence.number] = commitment_units(sentence.text)
        return units[sentence.number]

    placed: list[_Placed] = []
    dropped = 0
    for item in items:
        found = _place(article, item, units_of)
        if found is None:
            dropped += 1
        else:
            placed.append(found)
    merged = _merge(placed)
    kept = [_finish(p, own_words) for p in merged]
    kept.sort(key=lambda c: c.sentences[0] if c.sentences else 0)
    return kept, dropped


def _place(article: NumberedArticle, item: Commitment, units_of: _UnitsOf) -> _Placed | None:
    """Where the commitment is stated, or None when its sentences state no commitment of it
    (the words it shares with a sentence lie mostly outside the sentence's commitments).

    Within the sentence it is the first commitment holding half as many of its words as the
    best one: a clause read by code runs on over the commitments after the one it starts at."""
    claimed = set(words(item.commitment))
    sentences = _evidence(article, item)
    if not claimed or not sentences:
        return _Placed(item, None, None, -1)
    said_anywhere = False
    for sentence in sentences:
        present = claimed & set(words(sentence.text))
        if not present:
            continue
        said_anywhere = True
        units = units_of(sentence)
        inside = [len(present & set(words(unit.text))) for unit in units]
        pledged = present & {w for unit in units for w in words(unit.text)}
        if not pledged or len(pledged) * 2 < len(present):
            continue
        index = next(i for i, n in enumerate(inside) if n and n * 2 >= max(inside))
        return _Placed(item, sentence, units[index], index)
    # Narrative or a past action. A paraphrase sharing no word with its sentences cannot
    # be told apart: kept as it is.
    return None if said_anywhere else _Placed(item, None, None, -1)


def _evidence(article: NumberedArticle, item: Commitment) -> list[Sentence]:
    """The commitment's sentences, the quoted one first; a sentence that starts mid-way (a
    digit or a lower-case word: cut after "Rs." or "No.") brings the one it continues."""
    cited = [s for n in dict.fromkeys(item.sentences) if (s := article.sentence(n))]
    cited.sort(key=lambda s: s.text != item.quote)
    found: list[Sentence] = []
    for sentence in cited:
        found.append(sentence)
        first = sentence.text.lstrip()[:1]
        if (first.isdigit() or first.islower()) and (
            before := article.sentence(sentence.number - 1)
        ):
            found.append(before)
    return list(dict.fromkeys(found))


def _merge(placed: list[_Placed]) -> list[list[_Placed]]:
    """Groups of commitments that say one thing: the same unit, or mostly the same words."""
    groups: list[list[_Placed]] = []
    for entry in placed:
        for group in groups:
            if any(_same(entry, other) for other in group):
                group.append(entry)
                break
        else:
            groups.append([entry])
    return groups


def _same(a: _Placed, b: _Placed) -> bool:
    """The same commitment of one sentence; or, across sentences, mostly the same words."""
    if a.sentence is not None and b.sentence is not None and a.sentence is b.sentence:
        return a.index == b.index
    first, second = set(words(a.item.commitment)), set(words(b.item.commitment))
    smaller = min(len(first), len(second))
    return smaller >= 3 and len(first & second) >= SAME_WORDS * smaller


def _finish(group: list[_Placed], own_words: bool) -> Commitment:
    """One entry for the group: the actor the commitment is on, every sentence, the fullest
    text (or the article's clause), the first deadline given."""
    lead = group[0]
    for entry in group:
        if entry.unit is not None:
            lead = entry
            break
    actor = _actor(group, lead)
    if own_words and lead.unit is not None:
        text = own_clause(lead.unit, actor)
    else:
        text = max((e.item.commitment for e in group), key=len)
    sentences = sorted({n for e in group for n in e.item.sentences})
    deadline = next((e.item.deadline for e in group if e.item.deadline), None)
    return lead.item.model_copy(
        update={"actor": actor, "commitment": text, "sentences": sentences, "deadline": deadline}
    )


def _actor(group: list[_Placed], lead: _Placed) -> str:
    """Those called on; else, among the actors given, the one the sentence names last
    before the commitment (its subject); else the first given."""
    unit, sentence = lead.unit, lead.sentence
    if unit is not None and unit.called:
        return unit.called
    actors = list(dict.fromkeys(e.item.actor for e in group))
    if unit is None or sentence is None or len(actors) == 1:
        return actors[0]
    before = normalize(sentence.text[: unit.start] + " " + unit.subject)
    named = [(before.rfind(normalize(a)), a) for a in actors if normalize(a) in before]
    return max(named)[1] if named else actors[0]

"""Which English "will", "would", "should" or "plans to" states a commitment, by press writing.

A commitment is what a named actor will do: "the Ministry will train 25,000 women", "Kenya would
allocate KSh 6 billion" (reported speech moves "will" back to "would"), "the agency expects to
sign grant agreements". The same words also write what is no pledge, and English marks each:

- a question, a relative or a subordinate clause: "asked whether Kenya would", "how the money
  will be shared", "legislation that would send", "a herder who will lose his animals";
- a condition: "If the money stops in the capitals, we will have failed";
- a clause under a verb of knowing, wishing or advising: "we know the rains will fail", "it is
  hoped that merchants will", "he suggested that the province should";
- a thing's future, a prediction or a description: "these investments will help", "the bill
  would create", "the plants would supply water"; a thing pledges nothing unless the text holds
  it to a date someone answers for ("the first 12 buses should be in service by June 2026");
- a state rather than an act: "will be a good neighbour", "would be the number", "will become",
  "would have three windows";
- a passive or a receiving with no date and no owner: "a subsidy will be given", "the work will
  be managed by", "the transit district will receive $14 million" (with a date it is a plan:
  "would be completed by September 2026"; with an owner it is the owner's: "a quarter of
  Norway's contribution would be reserved for");
- "should" and "must" said of no one in particular, of the speaker's own side, or negated:
  principles ("nobody should have to", "we must adhere to", "should not have to wait"); said of
  a named body or people, they are a call on them ("all counties should adhere");
- an appearance schedule: "will tour the site at 10:30 a.m. Friday".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.reading.readers.english_names import (
    PRONOUNS,
    REPORTING,
    is_title_word,
    plain,
    singular,
)
from bot.core.reading.readers.words import word_list
from bot.core.reading.script import LATIN_SENTENCE_ENDS, clause_marks, ends_sentence

_ACTING = word_list("english", "acting_nouns")
_GENERIC = word_list("english", "generic_subjects")
_NOT_COMMITTING = word_list("english", "not_committing")
_RECEIVING = word_list("english", "receiving")
_PARTICIPLES = word_list("english", "irregular_participles")
_CALENDAR = word_list("english", "calendar")
_LEVELS = word_list("english", "modifiers")

_MODALS = frozenset({"will", "would", "shall"})
_DUTIES = frozenset({"must", "should"})
_INTENTIONS = re.compile(r"\bto\s+")
# Where the clause holding a commitment starts: after a reporting verb, "that", ";" or ":".
_RESET = re.compile(
    r"\b(?:" + "|".join(sorted(REPORTING | {"that", "informed", "assured", "confirmed",
                                            "replied", "adds", "notes", "states", "asks"}))
    + r")\b|[;:]",
    re.IGNORECASE,
)  # fmt: skip
# A subject left out because it is the one before: "... next month and must submit a plan".
_ELIDED = re.compile(r"\b(?:and|or|but)\s+(?:\w+ly\s+|also\s+|then\s+)?$", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(?:that|which|who)\s+(?:\w+ly\s+)?$", re.IGNORECASE)
_PARENTHETICAL = re.compile(r",\s*(?:which|who|whose|where)\b[^,]*,", re.IGNORECASE)
# "announced EUR 85 million, of which EUR 30 million would go to ...": the share of a sum
# just pledged goes on with that commitment, and with its subject.
_SHARE_OF = re.compile(r",\s*(?:of|with)\s+which\s+[^,;:]*$", re.IGNORECASE)
# A question or subordinate clause still open where the mark stands (no comma closed it).
_GOVERNED = re.compile(
    r"\b(?:whether|how|why|what|where|when|who|whom|which|whose|because|although|though|"
    r"unless|if|once|before|after|until|while|so\s+that|as\s+soon\s+as)\b[^,;:]*$",
    re.IGNORECASE,
)
_OPENER = re.compile(r"^(?:(?:and|but|or|so|then|next|now|also)\b[\s,]*)+", re.IGNORECASE)
_CONDITION = re.compile(r"\b(?:if|unless)\b", re.IGNORECASE)
_NEITHER = re.compile(r"\b(?:neither|nor)\s+$", re.IGNORECASE)
_ADVERB = re.compile(
    r"(?:(?!(?:ap|sup|re|multi|com)ply\b|rely\b)[a-z]+ly|also|now|soon|further|still|then|"
    r"first|only|again|even)\s+",
)
_INSERT = re.compile(r"^,\s[^,]{1,30},")
_WORD = re.compile(r"[\w'’-]+")
_HEAD_END = frozenset(
    "of in for at on with from to under across along near by who which that whose within "
    "between".split()
)
_STATE_AFTER_BE = frozenset("a an the whether how what one among part like".split())
_STATE_VERBS = frozenset({"become", "becomes", "seem", "appear", "mean"})
# What "it" or "this" will take, cost or need is a measure of a thing, not an act ("It'll take
# years to rebuild the harbour", "This would cost $2 million").
_MEASURE_VERBS = frozenset({"take", "cost", "require", "need"})
_MADE_READY = re.compile(r"\b(?:ready|open|done|available|in\s+place)\b|\b\w{3,}ed\b")
# The commitment's own clause, where the date it is held to stands: up to a clause break or a
# relative clause about one of its nouns ("a garage whose roof collapsed in February").
_OWN_CLAUSE = re.compile(r"[,;:]\s|\s(?:whose|which|who|whom|where)\s")
_MODAL_WORD = re.compile(r"\b(?:will|would|shall|must|should)\b")
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_SEASON = r"(?:spring|summer|autumn|fall|winter)"
_PERIOD = r"(?:day|week|month|quarter|year)"
# A date or a schedule a commitment is held to: a year, a month, a season, a quarter, "next
# month", "within 30 days", "every quarter", "monthly".
_WHEN = re.compile(
    rf"\b(?:19|20)\d\d\b|\b{_MONTH}(?!\w)"
    rf"|\b(?:in|by|this|next|until|before|from|since|coming)\s+(?:the\s+)?{_SEASON}\b"
    r"|\b(?:first|second|third|fourth|last)\s+(?:quarter|half)\b"
    rf"|\b(?:this|next|coming)\s+(?:{_PERIOD}|{_SEASON})\b|\bend\s+of\s+(?:the|this|next)\s+year\b"
    r"|\bwithin\s+(?:\d+|a|one|two|three|six|twelve)\s+(?:hours?|days?|weeks?|months?|years?)\b"
    r"|\bin\s+the\s+coming\s+(?:days|weeks|months)\b"
    rf"|\b(?:daily|weekly|monthly|quarterly|annually|yearly)\b|\b(?:every|each)\s+{_PERIOD}\b"
)
_BY_AGENT = re.compile(
    r"\s*(?:will|would|shall)\s+(?:\w+ly\s+|also\s+)?be\s+\w+\s+by\s+(?:the\s+)?"
    r"((?:[A-Z][\w'’-]*)(?:\s+(?:of|and|for|the|[A-Z][\w'’-]*|\([A-Z]+\)))*)"
)
_CLOCK = re.compile(r"\b\d{1,2}(?::\d\d)?\s*(?:a\.m\.|p\.m\.|am\b|pm\b)|\bnoon\b", re.IGNORECASE)


# A word of a name: "Fenghe", "Transportation's", or initials written with stops ("U.S.", "N.C.").
_NAME_WORD = r"(?:[A-Z]\.(?:[A-Z]\.)+|[A-Z][\w'’-]*)"
_WILL_SUBJECT = re.compile(
    rf"^(?:[^,]{{0,100}}, )?(?:the |The )?({_NAME_WORD}(?: (?:of|and|for|the|{_NAME_WORD}))"
    r"{0,10}) will\b"
)
# A sum as press writing gives it: "$7,500,000", "EUR 12 million", "Rs. 46 million", "£2.4bn".
_AMOUNT = r"(?:[$€£₹¥]|Rs\.?\s|\d|(?:[A-Z]{3}|KSh|[AC]\$)\s?\d)"
_ABOUT = r"(?:(?:more\s+than|over|nearly|almost|about|around|up\s+to|at\s+least)\s+)?"
# Who a call is on: a few words, or a few words with an apposition or a clause set off by
# commas ("the developer, Cordell Street Partners, to sign").
_OBJECT = r"(?:[\w'’.-]+\s+){0,7}?[\w'’.-]+(?:,\s+(?:[\w'’.-]+\s+){0,7}?[\w'’.-]+,)?\s+"
# Words that state a commitment, a plan or a call on others, in the ways press releases, news
# stories and translated government releases all write them: "will/would <do>", "plans to",
# "committed to", "pledged that", "urged X to", "must/should <do>", "announced $N".
_COMMITMENT_MARK = re.compile(
    r"(?:\b(?:will|would|shall)|(?<=\w)['’]ll)(?:,\s[^,]{1,30},)?\s+"
    r"(?:also\s+|now\s+|soon\s+|further\s+)?(?!not\b)[a-z]+"
    r"|\b(?:plans?|planned|expects?|intends?|aims?|seeks?|pledged|pledges|promised|promises|"
    r"vowed|vows|committed|commits|agreed|undertakes|strives?|striving|is\s+set|are\s+set|"
    r"has\s+decided)\s+to\s+"
    r"(?:[a-z]+ing\b|[a-z]+)"
    r"|\b(?:pledged|promised|vowed|guaranteed|assured|requested)\s+(?:that\b|[a-z]+\s+that\b)"
    r"|\b(?:urged|urges|urge|called\s+on|calls\s+on|call\s+on|appealed\s+to|asked|required|"
    rf"requires|requested|requests|directed|instructed)\s+{_OBJECT}to\s+[a-z]+"
    r"|\b(?:must|should)\s+(?:also\s+|further\s+)?[a-z]+"
    r"|\b(?:announced|announces|invests|allocates|earmarks|commits|committed|sanctioned|approved|"
    r"pledged|pledges|contributes|(?:is|are)\s+(?:investing|contributing|allocating|providing))\s+"
    rf"(?:an?\s+allocation\s+of\s+|an?\s+|the\s+|plans\s+|that\s+|funding\s+|grants?\s+)?"
    rf"{_ABOUT}{_AMOUNT}"
    rf"|\b(?:offered|offers|has\s+offered)\s+(?:{_NAME_WORD}\s+){{1,4}}{_ABOUT}{_AMOUNT}"
)
_QUOTE_CLOSE = re.compile(r"[,.!?]?[\"”](?:\s|$)")
# A headline's "Ministry to train 25,000 women", "£2.4bn to transform buses".
_HEADLINE_COMMITMENT = re.compile(rf"^[^{LATIN_SENTENCE_ENDS}]{{3,120}}?\bto\s+[a-z]{{3,}}")
_SAID_THAT = re.compile(
    r"\b(?:said|says|told\s+[^,]{1,60}?|added|announced|stated)\s+(?:that\s+)?$"
)
_BODY_NAME = re.compile(
    rf"(?:the |The )?({_NAME_WORD}(?: (?:of|and|for|the|{_NAME_WORD})){{0,10}})"
)
# Where a later clause of a sentence starts, to find the subject it names.
_CLAUSE_START = re.compile(
    r"[,;]|\b(?:and|but|while|whereas)\b|\b(?:said|says|added|announced)\b(?:\s+that)?"
)
# A dateline before the first sentence's subject: "TILLMAN, Ind.--(BUSINESS WIRE)--", "OSLO — ".
_DATELINE = re.compile(
    r"^[A-Z][A-Z .'’-]+(?:,[^—–(]{1,30}?)?\s*(?:--|—|–)\s*(?:\([^)]{1,40}\)\s*(?:--|—|–)\s*)?"
)
# "X announced Tuesday that it will": the pronoun is the sentence's own subject.
_REPORTED_SELF = re.compile(
    r"\b(?:said|says|announced|announces|confirmed|confirms|stated)\s+(?:[A-Z]?[a-z]+\s+)?"
    r"(?:that\s+)?it\s*$"
)


def states_commitment(sentence: str, start: int, end: int) -> bool:
    """True if the mark at ``start:end`` ("will build", "plans to invest", "urged X to")
    states a commitment rather than a question, condition, belief, prediction or principle."""
    before = sentence[:start]
    share = _SHARE_OF.search(before)
    if share is not None:
        before = before[: share.start()] + " and "
    if _RELATIVE.search(before):
        return False  # "legislation that would send", "a herder who will lose"
    resets = list(_RESET.finditer(before))
    reset = resets[-1].end() if resets else 0
    span = _PARENTHETICAL.sub(" ", before[reset:])
    if resets and not span.strip() and resets[-1].group().isalpha():
        return False  # "a target she said would be reviewed": a relative clause
    if _GOVERNED.search(span) or _CONDITION.search(span):
        return False  # "asked whether Sudan would", "If the money stops, we will"
    clause = before[max((at + 1 for at in clause_marks(before)), default=0) :]
    if any(plain(w) in _NOT_COMMITTING for w in _WORD.findall(clause)):
        return False  # "We know the rains will fail", "It is hoped that merchants will"
    written = sentence[start:end].split()[0].rstrip(",")
    first = "will" if written[1:].lower() == "ll" else written.lower()  # "We'll", "I’ll"
    found = _INTENTIONS.search(sentence, start, end)
    if first in _MODALS | _DUTIES:
        verb_at = start + len(written)
    elif found is not None and first not in {"urged", "urges", "urge", "called", "calls",
                                             "call", "appealed", "asked", "required",
                                             "requires", "requested", "requests", "directed",
                                             "instructed", "offered", "offers", "has"}:  # fmt: skip
        verb_at = found.start() + 2
    else:
        return True  # a call on others, a commitment "that", a sum announced
    return _predicate_commits(sentence, before, span, first, verb_at)


def _predicate_commits(sentence: str, before: str, span: str, first: str, verb_at: int) -> bool:
    rest = _INSERT.sub("", sentence[verb_at:]).lstrip()  # "will, as always, support"
    while (adverb := _ADVERB.match(rest)) is not None and not rest.startswith("not "):
        rest = rest[adverb.end() :]
    words = rest.split()
    verb = plain(words[0]) if words else ""
    after = plain(words[1]) if len(words) > 1 else ""
    clause = rest[: next(iter(clause_marks(rest)), len(rest))]
    if _CLOCK.search(rest):
        return False  # an appearance schedule
    if (verb == "be" and after in _STATE_AFTER_BE) or verb in _STATE_VERBS:
        return False  # a state: "will be a good neighbour", "will become"
    if verb in _MEASURE_VERBS and plain(_subject(span)) in {"it", "this", "that"}:
        return False  # a measure: "It'll take years to rebuild"
    if verb == "have" and after != "to" and not _MADE_READY.search(clause):
        return False  # "would have three windows"
    dated = _WHEN.search(_OWN_CLAUSE.split(sentence[verb_at:], maxsplit=1)[0]) is not None
    subject = _subject_kind(_subject(span))
    if _ELIDED.search(before):  # "... and would also": the subject of the verb before
        earlier = [m.start() for m in _MODAL_WORD.finditer(before)]
        subject = _subject_kind(written_subject(before[: earlier[-1]])) if earlier else "none"
    if (verb == "be" and _is_participle(after)) or verb in _RECEIVING:
        return dated or subject == "owner"  # "would be completed by 2026"
    if first in _DUTIES:
        negated = verb in {"not", "never"} or _NEITHER.search(before) is not None
        return not negated and (subject in {"agent", "owner", "none"} or dated)
    if subject in {"thing", "generic"}:
        return dated  # "the expansion will create 480 jobs by the end of 2029"
    return True


def is_kind_only(name: str) -> bool:
    """A body named only by its kind ("the Government", "the Federal Government", "the
    Ministry"): the speaker's own, not a name of its own."""
    words = [plain(w) for w in name.split()]
    return bool(words) and all(
        w in _ACTING or w in _LEVELS or w in {"the", "of", "and"} for w in words
    )


def passive_agent(sentence: str, start: int) -> str:
    """Who acts in a passive commitment, from its "by" phrase ("would be hosted by IFAD"), or ""."""
    found = _BY_AGENT.match(sentence, start)
    if found is None or _WHEN.match(found.group(1)) or is_kind_only(found.group(1)):
        return ""
    return found.group(1)


def _is_participle(word: str) -> bool:
    return (len(word) > 4 and word.endswith("ed")) or word in _PARTICIPLES


def _subject(span: str) -> str:
    """The subject of the clause before the mark: its last comma part, or the part before an
    apposition ("The plan's first phase, about $1.4 million, will")."""
    parts = re.split(r",(?=\s|$)", span)  # "80,000" is one number
    part = parts[-3] if len(parts) >= 3 and not parts[-1].strip() else parts[-1]
    part = re.sub(r"\([^)]*\)", " ", part).strip(" \"“”'‘’")
    return _OPENER.sub("", part)


def written_subject(before: str) -> str:
    """The subject as written before a commitment mark ("Fenghe" in "Fenghe, a prefecture-level
    city of 2.3 million people, plans to"), "" when the clause has none."""
    reset = max((m.end() for m in _RESET.finditer(before)), default=0)
    return "" if _ELIDED.search(before) else _subject(_PARENTHETICAL.sub(" ", before[reset:]))


def _subject_kind(subject: str) -> str:
    """none, self (I, we, you), agent (a name, a body, a person), owner (a thing someone's:
    "Norway's contribution"), generic (nobody, people) or thing."""
    words = [w.strip('"“”‘’*') for w in subject.split()]
    words = [w for w in words if w]
    if not words:
        return "none"
    low = [plain(w) for w in words]
    if low == ["i"] or low == ["we"] or low == ["you"]:
        return "self"
    if low[0] in _GENERIC:
        return "generic"
    if len(low) == 1 and low[0] in PRONOUNS:
        return "agent" if low[0] in {"he", "she", "they", "it"} else "thing"
    for word in words:
        owner = re.sub(r"['’]s$", "", word)
        if owner != word and plain(owner) not in _CALENDAR and _acts(owner):
            return "owner"
    head = len(words) - 1
    for index, word in enumerate(low):
        if word in _HEAD_END and index > 0:
            head = index - 1
            break
    if _acts(words[head]):
        return "agent"
    # A thing a name qualifies is that name's: "the German funding", "the EU grant", "a
    # quarter of the German funding"; a name after another preposition only places it
    # ("every family in Canada").
    end = len(words) if low[head + 1 : head + 2] == ["of"] else head
    named = any(w[:1].isupper() and _acts(w) for i, w in enumerate(words[:end]) if 0 < i != head)
    return "owner" if named else "thing"


def _acts(word: str) -> bool:
    """A name ("Fenghe", "FAO"), a body or place noun, or a person's office."""
    folded = plain(word)
    if word[:1].isupper() and folded not in PRONOUNS and folded not in _CALENDAR:
        return True
    return folded in _ACTING or plain(singular(folded)) in _ACTING or is_title_word(folded)


# --- reading a sentence's commitments ----------------------------------------------------


def will_subject(sentence: str) -> tuple[str, bool] | None:
    """The named "X will" subject; "the city would", "he would", "We'll" are generic."""
    found = _WILL_SUBJECT.match(sentence)
    if found is None:
        return None
    subject = found.group(1)
    return subject, subject.lower() in PRONOUNS


def read_commitments(sentence: str, is_person: Callable[[str], bool]) -> list[tuple[str, str]]:
    """(subject, what) of each commitment the sentence states; the subject is "" when the
    text does not name one before the commitment ("he would", "the city will", "I call on").

    A mark that states no commitment (``english_commitments.states_commitment``: a question, a
    condition, a thing's future, a principle) is passed over for the next one. After the
    first, a commitment is read only where a clause names a subject of its own ("Alvera is
    contributing $4 million, and Brisk is contributing $1 million"); the same subject going
    on ("will widen the road and will build a bridge") is the same commitment.
    """
    named = _WILL_SUBJECT.match(sentence)
    marks = list(_COMMITMENT_MARK.finditer(sentence))
    found: list[tuple[str, str]] = []
    for mark in marks:
        if not states_commitment(sentence, mark.start(), mark.end()):
            continue
        at = mark.start()
        if sentence[at] in "'’":  # "We'll reopen": the clause keeps its subject
            at -= len(re.search(r"\w*$", sentence[:at]).group())  # type: ignore[union-attr]
        what = _clause(sentence[at:])
        if (
            named is not None
            and named.end() - len("will") == mark.start()
            and named.group(1).lower() not in PRONOUNS
        ):
            subject = named.group(1)
        else:
            agent = passive_agent(sentence, mark.start())
            subject = agent or _named_subject(sentence[: mark.start()], is_person)
        if found and not _own_subject(sentence[: mark.start()], subject, found):
            continue
        found.append((subject, what))
    if found:
        return found
    headline = not ends_sentence(sentence.rstrip())
    short = len(sentence.split()) <= 25
    if not marks and headline and short and _HEADLINE_COMMITMENT.search(sentence):
        return [("", _clause(sentence))]
    return []


def _own_subject(before: str, subject: str, found: list[tuple[str, str]]) -> bool:
    """A later commitment's clause names a body, place or person not named before it."""
    starts = list(_CLAUSE_START.finditer(before))
    lead = before[starts[-1].end() :] if starts else before
    written = subject or re.sub(r"^(?:the|The)\s+", "", lead.strip())
    if not written[:1].isupper() or plain(written) in PRONOUNS or len(written.split()) > 10:
        return False
    return all(plain(written) != plain(earlier) for earlier, _ in found)


def _named_subject(before: str, is_person: Callable[[str], bool]) -> str:
    """A body or place named right before the commitment ("said that the Commission"), or as
    the clause's subject before an apposition ("Fenghe, a city of 2.3 million, plans")."""
    tail = before.rstrip()
    if _REPORTED_SELF.search(tail):  # "Corvane, a device maker, today announced it will"
        # "it" makes the sentence's subject a body, even one named like a person.
        head = _BODY_NAME.match(_DATELINE.sub("", tail).lstrip("\"“‘' "))
        return head.group(1) if head is not None and plain(head.group(1)) not in PRONOUNS else ""
    said = _SAID_THAT.search(tail)
    return _body(tail[said.end() :] if said else tail, is_person) or _body(
        written_subject(before), is_person
    )


def _body(lead: str, is_person: Callable[[str], bool]) -> str:
    found = _BODY_NAME.fullmatch(lead)
    if found is None or found.group(1).lower() in PRONOUNS or is_person(found.group(1)):
        return ""  # a person is attributed by grounding, from the names it knows
    return found.group(1)


def _clause(text: str) -> str:
    """The commitment itself: its first 25 words, cut at a clause break after six of them."""
    clause = " ".join(text.split()[:25])
    if quoted := _QUOTE_CLOSE.search(clause):  # 'will last 50 years," she said'
        clause = clause[: quoted.start()]
    if (cut := next(iter(clause_marks(clause)), None)) and len(clause[:cut].split()) >= 6:
        clause = clause[:cut]
    return clause.rstrip(".,; ")

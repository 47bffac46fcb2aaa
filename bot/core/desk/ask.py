"""A question asked across all of a chat's articles: retrieval, one model call, checked quotes.

Analysts ask about many releases at once ("who else signed with Voltaris?", "what did
Norway pledge at both conferences?"), so the answer must come from every article that holds
a part of it, each line with its quote, the article's title and its date.

- **Retrieval** is BM25 (``bm25s``, as for long articles' follow-ups) over the sentences of
  the scope's articles, read with SQL filtered by scope, so another chat's rows are never
  even loaded. A sentence's keys are its own words, its article's title, and the register's
  lines that quote it (the official's name and title, the pledge's actor and what it is):
  "the company will create 480 jobs" is found by "Corvane" because its pledge row says so.
  A Chinese sentence also has English keys (``bilingual``: 澜江 "Lanjiang", 书记 "secretary"),
  and a Chinese question English ones, so a question in either language finds both.
  The best sentences are taken round-robin across articles (each with the one before it, for
  "she said"), so a question spanning several articles shows each of them, within a token
  budget. A question saying "since March 2026" keeps only articles dated then or later.
- **A small model** (the embedded one) is not asked: it cited the wrong sentence or none, so
  its answer is each shown article's two best sentences, best articles first, read by code
  (``bench/ask_across.py``: the 1.5B model's own answers 1, 0 and 0 of 10 on the tuned,
  unseen and fresh sets; these lines 9, 2 and 4). Asked "how many X", the lines are
  sentences stating a number of X, and "not stated" when none does.
- **One model call** on those passages, with a schema of lines: claim, verbatim quote,
  article number. Nothing found means no call at all: "Not stated in your articles."
- **Code checks every line**: its quote must occur in the cited article's text (the same
  normal form as grounding, ``matching.normalize``) and share a word with its claim; a line
  that fails is dropped, never repaired. The kept lines carry the article's title and date.

The question is the user's, but passages and titles are fenced as untrusted data, and a line
can only survive with a quote from a shown article of this scope: an injected instruction,
in an article or in the question, can at worst produce a line that is then dropped.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.desk.ask_lines import Passage, check_lines, quoted_in, quoted_lines
from bot.core.desk.ask_question import (
    ASKING,
    answer_kind,
    counted,
    question_names,
    question_since,
    tidy,
    writes_any,
)
from bot.core.desk.ask_schemas import (
    MAX_LINES,
    NOT_STATED,
    CrossAnswer,
    CrossAnswerDraft,
)
from bot.core.models.llm import LLM, ChatMessage
from bot.core.prompts import PromptLibrary
from bot.core.reading.bilingual import english_keys
from bot.core.reading.chunking import CountTokens, NumberedArticle, Sentence
from bot.core.reading.dates import human
from bot.core.reading.matching import normalize, terms
from bot.core.reading.messages import fence
from bot.core.reading.ranking import bm25_scores
from bot.core.schemas import AnswerStats
from bot.core.storage.store import ARTICLE_DAY, Store, StoredArticle

__all__ = [  # with the question's reading (``ask_question``), which tests and the bench use
    "AskConfig",
    "ask_across",
    "check_lines",
    "question_since",
    "quoted_in",
    "register_lines",
    "retrieve",
    "scope_articles",
]

_MAX_SENTENCE_TOKENS = 400
_SENTENCE_CACHE = 4096  # articles whose sentences are kept split, by hash
# A sentence opening like this needs the one before it to say who or what.
_REFERS_BACK = re.compile(
    r"\W*(?:he|she|it|they|this|that|these|those|his|her|its|their|the (?:company|project|"
    r"plan|fund|bill|programme|program|scheme|agreement|plant|city|county|state|province|"
    r"ministry|minister|department|council|government))\b|\W*[他她它该此这其]",
    re.IGNORECASE,
)
_HEADER_TOKENS = 40  # an article's fence and its number, title and date line
_TITLE_WEIGHT = 0.3
_SUBJECT_SHARE = 0.2  # a word in more of its sentences than this is what the article is about
_REGISTER_WEIGHT = 0.5
_CROSSED_WEIGHT = 0.5
_ANSWER_BOOST = 1.6


@dataclass(frozen=True)
class AskConfig:
    passage_tokens: int = 2500  # what the model is shown, all articles together
    small_passage_tokens: int = 1500  # the same for a small model: its lines are read from it
    small_lines_per_article: int = 2  # a small model's answer: each article's best sentences
    # (0: ask the small model as any other, which ``bench/ask_across.py --ask-small`` measures)
    max_articles: int = 6  # articles shown at most
    hits_per_article: int = 12  # best sentences of each article (the one before, for a "she")
    min_share: float = 0.25  # an article scoring under this share of the best one is noise
    scan_articles: int = 2000  # newest articles of the scope retrieval reads
    max_output_tokens: int = 1024
    max_question_chars: int = 1000


@dataclass(frozen=True)
class Keys:
    """A sentence's retrieval keys: its own words, those the register's lines quoting it add
    (who pledged, what), and the English of its Chinese (the pinyin of its names, the meaning
    of its words), so an English question finds a Chinese release and the other way round."""

    own: frozenset[str]
    register: set[str]
    crossed: frozenset[str]  # the English keys of its Chinese (``bilingual``)


async def ask_across(
    question: str,
    scope: str,
    *,
    store: Store,
    llm: LLM,
    prompts: PromptLibrary,
    count_tokens: CountTokens,
    config: AskConfig | None = None,
) -> CrossAnswer:
    """Answer ``question`` from all of ``scope``'s articles; every line quotes its article.

    ``prompts`` must carry the ``language`` value (``PromptLibrary.with_values``, as the
    service's does). Makes at most one model call, none when retrieval finds nothing; an
    ``LLMError`` from that call propagates with the usage it cost.
    """
    config = config or AskConfig()
    started = time.monotonic()
    question = tidy(question, config.max_question_chars)
    since, topic = question_since(question)
    # The store's reads wait on the database and ranking is CPU work (splitting, BM25): both
    # off the event loop, so a bot's other chats go on meanwhile.
    articles = await asyncio.to_thread(scope_articles, store, scope, since, config.scan_articles)
    searched = len(articles)
    names = question_names(topic, with_adjectives=True)
    if question_names(topic) and not any(writes_any(a.text, names) for a in articles):
        # "How much did Brazil pledge?" where no article writes Brazil: not stated. An article
        # not writing a name may still answer ("American factories", "the bridge bill and
        # North Carolina's grants"): ranking weighs the names, not this.
        articles = []
    quoted = await asyncio.to_thread(register_lines, store, scope, since) if articles else {}
    budget = config.small_passage_tokens if llm.capabilities.small else config.passage_tokens
    passages = await asyncio.to_thread(
        retrieve, topic, articles, quoted, count_tokens, config, budget
    )
    base = CrossAnswer(
        question=question,
        answer=NOT_STATED,
        stated=False,
        lines=[],
        since=since,
        articles_searched=searched,
        articles_shown=[p.article.id for p in passages],
    )
    if not passages:
        base.stats = AnswerStats(seconds=round(time.monotonic() - started, 3))
        return base
    if llm.capabilities.small and config.small_lines_per_article:  # the sentences answer
        holds = counted(topic)
        lines = quoted_lines(passages, config.small_lines_per_article, MAX_LINES, holds)
        return base.model_copy(
            update={
                "answer": "\n".join(line.quote for line in lines) if lines else NOT_STATED,
                "stated": bool(lines),
                "lines": lines,
                "stats": AnswerStats(seconds=round(time.monotonic() - started, 3)),
            }
        )
    messages: list[ChatMessage] = [
        {
            "role": "user",
            "content": prompts.render(
                "ask_across", articles=render_passages(passages), question=fence(question)
            ),
        }
    ]
    done = await llm.structured(messages, CrossAnswerDraft, max_tokens=config.max_output_tokens)
    lines, dropped = check_lines(done.value.lines, passages)
    return base.model_copy(
        update={
            "answer": "\n".join(line.claim for line in lines) if lines else NOT_STATED,
            "stated": bool(lines),
            "lines": lines,
            "dropped": dropped,
            "stats": AnswerStats(
                llm_calls=done.usage.calls,
                prompt_tokens=done.usage.prompt_tokens,
                completion_tokens=done.usage.completion_tokens,
                seconds=round(time.monotonic() - started, 3),
            ),
        }
    )


# --- reading the scope -------------------------------------------------------------------------


def scope_articles(store: Store, scope: str, since: str | None, limit: int) -> list[StoredArticle]:
    """The scope's newest articles (dated ``since`` or later): the only rows retrieval reads."""
    condition = f" AND {ARTICLE_DAY} >= ?" if since else ""
    rows = store.execute(
        f"SELECT a.* FROM articles a WHERE a.scope = ?{condition} ORDER BY a.id DESC LIMIT ?",
        (scope, *((since,) if since else ()), limit),
    ).fetchall()
    return [
        StoredArticle(
            id=int(r["id"]),
            scope=r["scope"],
            sha256=r["sha256"],
            title=r["title"],
            text=r["text"],
            created_at=r["created_at"],
            origin=r["origin"],
            reported_date=r["reported_date"],
            date_basis=r["date_basis"],
        )
        for r in rows
    ]


def register_lines(store: Store, scope: str, since: str | None) -> dict[int, list[tuple[str, str]]]:
    """The register's officials and pledges of the scope, by article: (what it says, quote)."""
    if store.schema_version("register") == 0:  # no digest has been registered in this store
        return {}
    condition = f" AND {ARTICLE_DAY} >= ?" if since else ""
    params = (scope, *((since,) if since else ()))
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row in store.execute(
        "SELECT o.article_id, o.name, o.title, o.organization, o.quote FROM reg_officials o "
        f"JOIN articles a ON a.id = o.article_id WHERE a.scope = ?{condition}",
        params,
    ).fetchall():
        label = f"{row['name']} {row['title']} {row['organization']}"
        found[int(row["article_id"])].append((label, row["quote"]))
    for row in store.execute(
        "SELECT c.article_id, c.actor, c.commitment, c.deadline, c.quote FROM reg_commitments c "
        f"JOIN articles a ON a.id = c.article_id WHERE a.scope = ?{condition}",
        params,
    ).fetchall():
        label = f"{row['actor']} {row['commitment']} {row['deadline'] or ''}"
        found[int(row["article_id"])].append((label, row["quote"]))
    return found


# --- retrieval ---------------------------------------------------------------------------------

_split: OrderedDict[str, list[Sentence]] = OrderedDict()
_split_lock = threading.Lock()  # questions are ranked in worker threads, several at once


def sentences_of(article: StoredArticle, count_tokens: CountTokens) -> list[Sentence]:
    """The article's sentences, split once per text (a chat asks many questions)."""
    key = article.sha256
    with _split_lock:
        if key in _split:
            _split.move_to_end(key)
            return _split[key]
    found = NumberedArticle(article.text, count_tokens, _MAX_SENTENCE_TOKENS, tokens=0).sentences
    with _split_lock:
        _split[key] = found
        while len(_split) > _SENTENCE_CACHE:
            _split.popitem(last=False)
    return found


def retrieve(
    question: str,
    articles: Sequence[StoredArticle],
    quoted: dict[int, list[tuple[str, str]]],
    count_tokens: CountTokens,
    config: AskConfig,
    budget: int | None = None,
) -> list[Passage]:
    """The passages to show: the best articles by BM25, then each one's best sentences,
    taken round-robin across them within the token budget (``config.passage_tokens``)."""
    budget = config.passage_tokens if budget is None else budget
    query = sorted(t for t in terms(question) | english_keys(question) if t not in ASKING)
    if not query or not articles:
        return []
    split = [sentences_of(a, count_tokens) for a in articles]
    keys: list[list[Keys]] = []  # per article, per sentence
    corpus: list[list[str]] = []  # per article: every sentence's keys, and the title's
    titles = [terms(a.title) | english_keys(a.title) for a in articles]
    for article, sentences, title in zip(articles, split, titles, strict=True):
        extra = _register_terms(sentences, quoted.get(article.id, []))
        found = [
            Keys(terms(s.text), extra.get(at, set()), english_keys(s.text))
            for at, s in enumerate(sentences)
        ]
        keys.append(found)
        words_of = [t for k in found for t in sorted(k.own | k.register | k.crossed)]
        corpus.append(words_of + sorted(title) or ["_"])
    scores = bm25_scores(corpus, query)
    best = max(scores)
    if best <= 0:
        return []
    order = [i for i in sorted(range(len(scores)), key=lambda i: -scores[i]) if scores[i] > 0]
    order = [i for i in order if scores[i] >= config.min_share * best][: config.max_articles]
    rarity = _rarity(query, [set(c) for c in corpus])
    wanted = answer_kind(question)
    ranked = {
        i: _best_sentences(
            query,
            keys[i],
            [s.text for s in split[i]],
            rarity,
            titles[i],
            wanted,
        )
        for i in order
    }
    chosen: dict[int, set[int]] = defaultdict(set)
    used = 0
    for round_ in range(config.hits_per_article):
        for index in order:
            if round_ >= len(ranked[index]):
                continue
            at = ranked[index][round_]
            sentences = split[index]
            window = {at}
            if (
                at > 0
                and sentences[at - 1].paragraph == sentences[at].paragraph
                and _REFERS_BACK.match(sentences[at].text)
            ):
                window.add(at - 1)  # "She announced that ...": who she is
            new = window - chosen[index]
            cost = sum(sentences[i].tokens + 2 for i in new)
            cost += 0 if chosen[index] else _HEADER_TOKENS
            if used + cost > budget:
                continue
            chosen[index] |= new
            used += cost
    passages: list[Passage] = []
    for index in order:
        if chosen[index]:
            shown = [split[index][i] for i in sorted(chosen[index])]
            first = [split[index][i] for i in ranked[index] if i in chosen[index]]
            passages.append(Passage(len(passages) + 1, articles[index], shown, first))
    return passages


def _rarity(query: Sequence[str], articles: Sequence[set[str]]) -> dict[str, float]:
    """How telling each query word is across the scope: BM25's idf over articles."""
    total = len(articles)
    rarity = {}
    for term in query:
        df = sum(term in a for a in articles)
        rarity[term] = math.log(1 + (total - df + 0.5) / (df + 0.5))
    return rarity


def _best_sentences(
    query: Sequence[str],
    keys: Sequence[Keys],
    texts: Sequence[str],
    rarity: dict[str, float],
    title: frozenset[str],
    wanted: re.Pattern[str] | None,
) -> list[int]:
    """An article's sentences holding query words, best first.

    A word scores by its rarity across the scope times its rarity within the article: in
    the Lake Chad article "Norway" picks the sentence, "Lake Chad" (in every other sentence)
    does not. A word of the article's title, or in more than a fifth of its sentences, is what
    the article is about: it chose the article, and counts for little here ("Wuchuan" in a
    release about Wuchuan does not pick its Party secretary's sentence, "secretary" does). A
    sentence holding what the question asks for (a date for "when", a figure for "how
    much") counts more. A word only the register's line adds (the actor of "the company
    will ...") or a translation adds counts less than the sentence's own.
    """
    count = len(keys)
    local = {t: sum(t in k.own or t in k.register or t in k.crossed for k in keys) for t in query}
    scored = []
    for at, found in enumerate(keys):
        score = 0.0
        for t in query:
            if t in found.own:
                weight = 1.0
            elif t in found.register:
                weight = _REGISTER_WEIGHT
            elif t in found.crossed:
                weight = _CROSSED_WEIGHT
            else:
                continue
            if t in title or local[t] > _SUBJECT_SHARE * count:
                weight *= _TITLE_WEIGHT
            score += rarity[t] * math.log(1 + count / local[t]) * weight
        if score > 0 and wanted is not None and wanted.search(texts[at]):
            score *= _ANSWER_BOOST
        if score > 0:
            scored.append((-score, at))
    return [at for _, at in sorted(scored)]


def _register_terms(
    sentences: Sequence[Sentence], rows: Sequence[tuple[str, str]]
) -> dict[int, set[str]]:
    """Keys the register adds to the sentences its rows quote (by sentence index)."""
    if not rows:
        return {}
    normalized = [normalize(s.text) for s in sentences]
    extra: dict[int, set[str]] = defaultdict(set)
    for label, quote in rows:
        wanted = normalize(quote)
        if not wanted:
            continue
        keys = terms(label)
        for at, text in enumerate(normalized):
            if text and (text in wanted or wanted in text):
                extra[at] |= keys
    return extra


def render_passages(passages: Sequence[Passage]) -> str:
    """Each article fenced on its own, headed by its number, title and date; "…" for gaps."""
    blocks = []
    for passage in passages:
        article = passage.article
        when = human(article.day)
        if article.date_basis == "arrived":
            when = f"date not given (arrived {when})"
        parts: list[str] = []
        previous: Sentence | None = None
        for sentence in passage.sentences:
            if previous is None:
                parts.append("" if sentence.number == 1 else "… ")
            elif sentence.number != previous.number + 1:
                parts.append("\n…\n")
            elif sentence.paragraph != previous.paragraph:
                parts.append("\n")
            else:
                parts.append(" ")
            parts.append(sentence.text)
            previous = sentence
        head = f"[Article {passage.number}] {article.title} | {when}"
        blocks.append(f"<article>\n{fence(head)}\n{fence(''.join(parts).strip())}\n</article>")
    return "\n\n".join(blocks)


# --- checking the model's lines -----------------------------------------------------------------

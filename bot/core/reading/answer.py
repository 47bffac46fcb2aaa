"""Follow-up questions about one article: one LLM call each, grounded in its sentences.

The first message (the article, or for a long one its passages most relevant to the
question, plus the digest summary) comes before the conversation so that a server with a
prompt cache reuses it across questions about a short article. Earlier exchanges are kept
newest first within a token budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.models.llm import LLM, ChatMessage
from bot.core.prompts import PromptLibrary
from bot.core.reading.bilingual import english_keys
from bot.core.reading.chunking import CountTokens, NumberedArticle, Sentence, render_sentences
from bot.core.reading.grounding import Grounder, terms
from bot.core.reading.matching import coverage, words
from bot.core.reading.messages import article_message, system_message
from bot.core.reading.ranking import bm25_scores
from bot.core.schemas import Answer, AnswerDraft, AnswerStats, Digest
from bot.core.storage.store import Exchange

_PASSAGE_TOKENS = 160


@dataclass(frozen=True)
class AnswerConfig:
    context_tokens: int = 3000
    history_tokens: int = 1500
    max_output_tokens: int = 1024


class QuestionAnswerer:
    def __init__(
        self, llm: LLM, prompts: PromptLibrary, count_tokens: CountTokens, config: AnswerConfig
    ) -> None:
        self.llm = llm
        self.prompts = prompts
        self.count_tokens = count_tokens
        self.config = config

    async def answer(
        self,
        article: NumberedArticle,
        digest: Digest | None,
        history: Sequence[Exchange],
        question: str,
    ) -> Answer:
        started = time.monotonic()
        messages = [
            system_message(self.prompts, article.text),
            *self._context(article, digest, question),
            *self._history(history),
            {"role": "user", "content": self.prompts.render("answer", question=question)},
        ]
        done = await self.llm.structured(
            messages, AnswerDraft, max_tokens=self.config.max_output_tokens
        )
        draft = done.value
        grounder = Grounder(article)
        quotes = grounder.quotes(draft.sentences)
        if words(draft.answer):
            # A small model cites a sentence that does not say it ("Xu Xiaoxiong", quoted with
            # a sentence about Xinhuanet): a quote shares at least a word with its answer.
            quotes = [q for q in quotes if coverage(draft.answer, q) > 0]
        if draft.stated and not quotes and (found := grounder.supporting_sentence(draft.answer)):
            quotes = [found.text]
        return Answer(
            answer=draft.answer.strip(),
            quotes=quotes,
            stated=draft.stated,
            stats=AnswerStats(
                llm_calls=done.usage.calls,
                prompt_tokens=done.usage.prompt_tokens,
                completion_tokens=done.usage.completion_tokens,
                seconds=round(time.monotonic() - started, 3),
            ),
        )

    def _context(
        self, article: NumberedArticle, digest: Digest | None, question: str
    ) -> list[ChatMessage]:
        """The whole article exactly as the digest sent it, or its most relevant passages."""
        if article.rendered_tokens() <= self.config.context_tokens:
            return [article_message(self.prompts, render_sentences(article.sentences))]
        shown = relevant_sentences(article, question, self.config.context_tokens)
        summary = digest.summary if digest else "(not digested yet)"
        return [
            article_message(self.prompts, render_sentences(shown)),
            {"role": "user", "content": self.prompts.render("answer_context", summary=summary)},
        ]

    def _history(self, history: Sequence[Exchange]) -> list[ChatMessage]:
        kept: list[ChatMessage] = []
        budget = self.config.history_tokens
        for exchange in reversed(history):
            pair: list[ChatMessage] = [
                {"role": "user", "content": f"Question: {exchange.question}"},
                {"role": "assistant", "content": exchange.answer.answer},
            ]
            cost = sum(self.count_tokens(m["content"]) for m in pair)
            if cost > budget:
                break
            budget -= cost
            kept[:0] = pair
        return kept


def relevant_sentences(article: NumberedArticle, question: str, budget: int) -> list[Sentence]:
    """BM25 over short passages; the best ones that fit the budget, in article order."""
    passages = _passages(article.sentences)
    texts = [" ".join(s.text for s in p) for p in passages]
    # English keys of Chinese text: a question in one language, an article in the other.
    corpus = [sorted(terms(text) | english_keys(text)) or ["_"] for text in texts]
    query = sorted(terms(question) | english_keys(question))
    order: list[int]
    if query:
        scores = bm25_scores(corpus, query)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties in order
    else:
        order = list(range(len(passages)))
    chosen: set[int] = set()
    used = 0
    for index in order:
        cost = sum(s.tokens + 4 for s in passages[index])
        if used + cost > budget:
            continue
        chosen.add(index)
        used += cost
    return [s for i in sorted(chosen) for s in passages[i]]


def _passages(sentences: Sequence[Sentence]) -> list[list[Sentence]]:
    passages: list[list[Sentence]] = []
    for sentence in sentences:
        current = passages[-1] if passages else None
        if (
            current
            and current[-1].paragraph == sentence.paragraph
            and sum(s.tokens for s in current) + sentence.tokens <= _PASSAGE_TOKENS
        ):
            current.append(sentence)
        else:
            passages.append([sentence])
    return passages

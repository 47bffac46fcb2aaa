"""LangChain's documented recipes for a summary plus officials, against the bench's fake server.

Issue 11 compares the bot with what a LangChain user writes for the same job, on the same fake
model server (same latency, same articles). Two recipes, each as LangChain documents it:

- summary: ``load_summarize_chain(llm, chain_type="map_reduce")`` (langchain-classic, default
  prompts and ``token_max``) over ``CharacterTextSplitter.from_tiktoken_encoder(chunk_size=1000,
  chunk_overlap=0)``, the splitter of LangChain's "Summarize Text" tutorial;
- summary + officials: that summary, and at the same time the extraction of "How to handle long
  text when doing extraction": ``TokenTextSplitter(chunk_size=2000, chunk_overlap=20)``, a
  system + human prompt, ``llm.with_structured_output(Officials)`` (ChatOpenAI's default method,
  ``json_schema``; the SDK sends it strict) and ``.batch(..., {"max_concurrency": 5})``.

Both splitters count with ``o200k_base`` (the encoding the bot counts with, and gpt-4o's), not
their default ``gpt2``, which tiktoken would have to download and which no current OpenAI model
uses. LangChain is an optional extra (``pip install -e '.[bench]'``): nothing here imports it
until a recipe runs, so this module imports without it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from tests.fakes.openai_server import (
    MESSAGE_OVERHEAD_TOKENS,
    FakeOpenAIServer,
    FakeReply,
    RecordedRequest,
    Responder,
    message_text,
)
from tests.fakes.scripted_model import KnownPerson

PACKAGES = ("langchain_classic", "langchain_openai", "langchain_text_splitters")
INSTALL = "pip install -e '.[bench]'"
ENCODING = "o200k_base"
# LangChain's documented values, not tuned: the "Summarize Text" tutorial's splitter ...
SUMMARY_CHUNK_TOKENS, SUMMARY_CHUNK_OVERLAP = 1000, 0
# ... load_summarize_chain's map_reduce default: collapse the summaries while they exceed it ...
SUMMARY_TOKEN_MAX = 3000
# ... and the long-text extraction guide's splitter and batch concurrency.
EXTRACTION_CHUNK_TOKENS, EXTRACTION_CHUNK_OVERLAP = 2000, 20
EXTRACTION_CONCURRENCY = 5
EXTRACTION_SYSTEM = (
    "You are an expert at identifying government and party officials in news text, with their "
    "title, organisation and the commitments they made. Only extract officials named in the "
    "text. Extract nothing if no official is named in the text."
)
# The map and reduce prompt of load_summarize_chain (langchain_classic map_reduce_prompt).
_SUMMARY_PROMPT = re.compile(
    r'^Write a concise summary of the following:\s*"(?P<text>.*)"\s*CONCISE SUMMARY:\s*$', re.S
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Count = Callable[[str], int]


class Official(BaseModel):
    """An official named in the text."""

    name: str = Field(description="The official's full name, as the text writes it")
    title: str = Field(description="The official's title or position")
    organisation: str = Field(description="The organisation the official speaks for")
    commitments: list[str] = Field(description="What the official committed to, if anything")


class Officials(BaseModel):
    """Officials named in the text."""

    officials: list[Official]


def available() -> bool:
    """Whether the bench extra (langchain-classic, langchain-openai) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES)


@dataclass
class LangChainRow:
    recipe: str  # "summary" or "summary + officials"
    target: int  # the article size asked for (article_of)
    article_tokens: int
    chunks: str  # the chunks each part of the recipe sent, e.g. "26" or "26+13"
    calls: int
    prompt_tokens: int  # by the fake server's usage formula, from its request log
    wall: float  # seconds
    summary: str
    officials: list[Official] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)  # the server's log of the run


def logged_prompt_tokens(requests: Iterable[RecordedRequest], count: Count) -> int:
    """Prompt tokens of the chat requests in the server's log, counted as the fake server
    counts the usage it reports (each message's text plus MESSAGE_OVERHEAD_TOKENS)."""
    total = 0
    for request in requests:
        if not request.path.endswith("/chat/completions") or not isinstance(request.body, dict):
            continue
        for message in request.body.get("messages") or []:
            total += count(message_text(message.get("content"))) + MESSAGE_OVERHEAD_TOKENS
    return total


@dataclass
class RecipeModel:
    """What the fake server's model writes for the recipes' requests; the rest (the bot's) go to
    ``fallback``. The bench's ScriptedModel answers every request in the bot's JSON shapes and
    reads only numbered sentences, so on its own it would answer LangChain's summary prompt with
    ``{"officials": [], ...}`` and find nobody. This one writes what a model would: a summary
    of the first two sentences (at most 400 characters, as ScriptedModel writes the bot's) and
    the known people the chunk names, with their "will" sentences."""

    people: list[KnownPerson]
    fallback: Responder

    def __call__(self, body: dict[str, Any]) -> FakeReply | str:
        messages = body.get("messages") or []
        fmt = body.get("response_format")
        if fmt is None and messages:
            asked = _SUMMARY_PROMPT.match(message_text(messages[-1].get("content")))
            if asked:
                return _first_sentences(asked["text"], 2, 400)
        if isinstance(fmt, dict) and (fmt.get("json_schema") or {}).get("name") == "Officials":
            text = "\n".join(
                message_text(m.get("content")) for m in messages if m.get("role") == "user"
            )
            return json.dumps({"officials": self._officials(text)})
        return self.fallback(body)

    def _officials(self, text: str) -> list[dict[str, Any]]:
        sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
        found = []
        for person in self.people:
            if person.name not in text:
                continue
            promised = [s for s in sentences if person.name in s and " will " in s]
            found.append(
                {
                    "name": person.name,
                    "title": person.title,
                    "organisation": person.organization,
                    "commitments": promised[:3],
                }
            )
        return found


def _first_sentences(text: str, count: int, limit: int) -> str:
    sentences = [s for s in _SENTENCE_END.split(" ".join(text.split())) if len(s.split()) > 3]
    return " ".join(sentences[:count])[:limit] or "Nothing to summarise."


async def langchain_figures(
    server: FakeOpenAIServer,
    model: str,
    articles: Mapping[int, str],
    people: list[KnownPerson],
    *,
    count: Count | None = None,
) -> list[LangChainRow]:
    """For each article (keyed by its target size), LangChain's summary recipe alone, then the
    summary and the officials extraction together; each run against ``server`` (its latency,
    its log, cleared before each run). A warm-up run on the first article comes first, as the
    bench digests one article before timing ours."""
    from langchain_openai import ChatOpenAI

    count = count or server.count_tokens
    llm = ChatOpenAI(
        model=model,
        base_url=server.base_url,
        api_key=lambda: "bench-key",
        temperature=0,
        # The fake serves "fake-model"; count as a gpt-4o-class model (o200k_base). LangChain's
        # fallback for unknown names, cl100k_base, would be downloaded.
        tiktoken_model_name="gpt-4o",
    )
    before = server.responder
    server.responder = RecipeModel(people, before)
    try:
        with _quiet():
            recipes = _Recipes(llm)
            if articles:
                await recipes.both(next(iter(articles.values())))  # warm-up, not measured
            rows = []
            for target, text in articles.items():
                for recipe in ("summary", "summary + officials"):
                    rows.append(await _measure(server, recipes, recipe, target, text, count))
    finally:
        server.responder = before
    return rows


async def _measure(
    server: FakeOpenAIServer, recipes: _Recipes, recipe: str, target: int, text: str, count: Count
) -> LangChainRow:
    server.reset()
    officials: list[Official] = []
    started = time.monotonic()
    if recipe == "summary":
        summary = await recipes.summary(text)
    else:
        summary, officials = await recipes.both(text)
    wall = time.monotonic() - started
    log = list(server.requests)
    chunks = str(len(recipes.summary_chunks(text)))
    if recipe != "summary":
        chunks += f"+{len(recipes.extraction_chunks(text))}"
    return LangChainRow(
        recipe=recipe,
        target=target,
        article_tokens=count(text),
        chunks=chunks,
        calls=sum(r.path.endswith("/chat/completions") for r in log),
        prompt_tokens=logged_prompt_tokens(log, count),
        wall=wall,
        summary=summary,
        officials=officials,
        requests=log,
    )


class _Recipes:
    """The two recipes, built once per model as a LangChain user would."""

    def __init__(self, llm: Any) -> None:
        from langchain_classic.chains.summarize import load_summarize_chain
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_text_splitters import CharacterTextSplitter, TokenTextSplitter

        self.summarize = load_summarize_chain(
            llm, chain_type="map_reduce", token_max=SUMMARY_TOKEN_MAX
        )
        self.summary_splitter = CharacterTextSplitter.from_tiktoken_encoder(
            encoding_name=ENCODING,
            chunk_size=SUMMARY_CHUNK_TOKENS,
            chunk_overlap=SUMMARY_CHUNK_OVERLAP,
        )
        self.extraction_splitter = TokenTextSplitter(
            encoding_name=ENCODING,
            chunk_size=EXTRACTION_CHUNK_TOKENS,
            chunk_overlap=EXTRACTION_CHUNK_OVERLAP,
        )
        prompt = ChatPromptTemplate.from_messages(
            [("system", EXTRACTION_SYSTEM), ("human", "{text}")]
        )
        self.extractor = prompt | llm.with_structured_output(schema=Officials, include_raw=False)

    def summary_chunks(self, text: str) -> list[str]:
        chunks: list[str] = self.summary_splitter.split_text(text)
        return chunks

    def extraction_chunks(self, text: str) -> list[str]:
        chunks: list[str] = self.extraction_splitter.split_text(text)
        return chunks

    async def summary(self, text: str) -> str:
        from langchain_core.documents import Document

        documents = [Document(page_content=chunk) for chunk in self.summary_chunks(text)]
        result = await self.summarize.ainvoke({"input_documents": documents})
        return str(result["output_text"])

    async def officials(self, text: str) -> list[Official]:
        inputs = [{"text": chunk} for chunk in self.extraction_chunks(text)]
        found = await self.extractor.abatch(inputs, {"max_concurrency": EXTRACTION_CONCURRENCY})
        return [official for each in found if each is not None for official in each.officials]

    async def both(self, text: str) -> tuple[str, list[Official]]:
        """Summary and extraction at the same time (the user's fastest way to get both)."""
        summary, officials = await asyncio.gather(self.summary(text), self.officials(text))
        return summary, officials


@contextmanager
def _quiet() -> Iterator[None]:
    from langchain_core._api import LangChainDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainDeprecationWarning)
        # langchain-openai sums usage fields the SDK fills with None (text_tokens, ...) when
        # the body lacks them, as OpenAI's recorded replies do, and warns at each sum.
        warnings.filterwarnings("ignore", "Unexpected type for token usage", UserWarning)
        yield

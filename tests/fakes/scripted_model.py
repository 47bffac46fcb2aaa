"""A rule-following stand-in for the LLM, for the fake OpenAI server.

It reads the numbered sentences in the prompt exactly as a real model would receive them,
and answers in the JSON shape the request's schema asks for: officials are the names it is
told to know, found in the sentences it was asked about; commitments are "X will ..."
sentences; answers pick the sentence sharing most words with the question. Knobs make it
misbehave the way real models do (invented people, wrong citations, repeats, a neighbour's
title) so the pipeline's defences can be tested.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_NEW_RANGE = re.compile(r"Report on sentences \[(\d+)\] to \[(\d+)\]")
_WILL = re.compile(r"^(?:On behalf of [^,]+, )?(.{3,80}?) will (.+)$")
_WORD = re.compile(r"[a-z0-9]{3,}")


@dataclass
class KnownPerson:
    name: str
    title: str
    organization: str = ""


@dataclass
class ScriptedModel:
    people: list[KnownPerson] = field(default_factory=list)
    invent_official: bool = False
    invent_citation: bool = False
    repeat_entries: int = 1
    wrong_titles: dict[str, str] = field(default_factory=dict)
    calls: int = 0

    def __call__(self, request: dict[str, Any]) -> str:
        self.calls += 1
        messages = request["messages"]
        prompt = "\n".join(m["content"] for m in messages if m["role"] == "user")
        last = messages[-1]["content"]
        kind = _schema_name(request)
        if kind == "AnswerDraft":
            return json.dumps(self._answer(prompt, last))
        if kind == "SummaryDraft":
            return json.dumps(self._summary(prompt))
        sentences = _sentences(prompt)
        if found := _NEW_RANGE.search(last):
            low, high = int(found.group(1)), int(found.group(2))
            sentences = {n: t for n, t in sentences.items() if low <= n <= high}
        body: dict[str, Any] = {
            "officials": self._officials(sentences),
            "commitments": self._commitments(sentences),
            "key_points": [t[:120] for _, t in sorted(sentences.items())[:3]],
        }
        if kind.startswith("Small"):  # small-model shape: names only; code reads commitments
            body["officials"] = [o["name"] for o in body["officials"]]
            del body["commitments"]
        if kind in ("DigestDraft", "SmallDigestDraft"):
            body["summary"] = " ".join(t for _, t in sorted(sentences.items())[:2])[:400]
        return json.dumps(body)

    def _officials(self, sentences: dict[int, str]) -> list[dict[str, Any]]:
        found = []
        for person in self.people:
            cites = [n for n, text in sorted(sentences.items()) if person.name in text]
            if not cites:
                continue
            if self.invent_citation:  # a real sentence, but not one naming this person
                cites = [min(sentences)]
            found.append(
                {
                    "name": person.name,
                    "title": self.wrong_titles.get(person.name, person.title),
                    "organization": person.organization,
                    "sentences": cites[:3],
                }
            )
        if self.invent_official and sentences:
            found.append(
                {
                    "name": "John Fakeman",
                    "title": "Minister of Imagination",
                    "organization": "Ministry of Nothing",
                    "sentences": [min(sentences)],
                }
            )
        return found * self.repeat_entries

    def _commitments(self, sentences: dict[int, str]) -> list[dict[str, Any]]:
        found = []
        for number, text in sorted(sentences.items()):
            match = _WILL.match(text)
            if match:
                actor = match.group(1).removeprefix("The ").removeprefix("the ")
                words = match.group(2).split()[:20]
                found.append(
                    {
                        "actor": actor,
                        "commitment": " ".join(words),
                        "deadline": None,
                        "sentences": [min(sentences) if self.invent_citation else number],
                    }
                )
        return found * self.repeat_entries

    def _summary(self, prompt: str) -> dict[str, Any]:
        notes = re.findall(r"^Part \d+: (.*)$", prompt, re.MULTILINE)
        return {
            "summary": " ".join(notes)[:400] or "No notes.",
            "key_points": [n[:120] for n in notes[:5]],
        }

    def _answer(self, prompt: str, question_message: str) -> dict[str, Any]:
        """Pick the sentence sharing the rarest words with the question, or say not stated."""
        found = re.search(r"Question[^:\n]*:\s*(.*)", question_message)
        question = found.group(1) if found else question_message
        wanted = set(_WORD.findall(question.lower())) - {"who", "what", "the", "which", "did"}
        sentences = sorted(_sentences(prompt).items())
        words = {n: set(_WORD.findall(t.lower())) for n, t in sentences}
        frequency = {w: sum(w in ws for ws in words.values()) for w in wanted}
        best, best_score = None, 0.0
        for number, text in sentences:
            score = sum(1 / frequency[w] for w in wanted & words[number])
            if score > best_score:
                best, best_score = (number, text), score
        if best is None or best_score < 0.5:
            return {"answer": "The article does not say.", "stated": False, "sentences": []}
        return {"answer": best[1], "stated": True, "sentences": [best[0]]}


def _schema_name(request: dict[str, Any]) -> str:
    """Which shape is asked for: named by json_schema, else read off the schema the model sees
    (inside json_object for llama.cpp, or in the prompt for servers that enforce none)."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str(response_format["json_schema"]["name"])
    schema = response_format.get("schema") or _schema_in_prompt(request)
    properties = schema.get("properties", {})
    if "answer" in properties:
        return "AnswerDraft"
    if "summary" in properties and "officials" not in properties:
        return "SummaryDraft"
    small = (properties.get("officials") or {}).get("items", {}).get("type") == "string"
    name = "DigestDraft" if "summary" in properties else "ChunkExtraction"
    return f"Small{name}" if small else name


def _schema_in_prompt(request: dict[str, Any]) -> dict[str, Any]:
    last = str(request["messages"][-1].get("content", ""))
    marker = last.rfind("JSON schema: {")
    if marker < 0:
        return {}
    try:
        found = json.loads(last[last.index("{", marker) :])
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _sentences(prompt: str) -> dict[int, str]:
    return {int(n): text for n, text in _LINE.findall(prompt)}


def zhaoqing_people() -> list[KnownPerson]:
    """The officials of the shared article, plus its reporters (a careless model lists them)."""
    gold = json.loads(_data("zhaoqing-die-casting-summit.gold.json"))
    people = [
        KnownPerson(o["name"], o["title_keywords"][0], o["organization_keywords"][0])
        for o in gold["officials"]
    ]
    people += [KnownPerson(p["name"], "reporter", "Xijiang Daily") for p in gold["not_officials"]]
    return people


def _data(name: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "data" / name).read_text(encoding="utf-8")

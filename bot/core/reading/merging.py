"""Merge what several chunks (or a repetitive model) said about the same person or commitment.

Done in code rather than by another LLM call: it is free, instant and predictable. A name
that is a cut-short form of exactly one longer name ("Yang Qing" for "Yang Qingbing", a lone
surname or first name) joins that person; titles from different mentions are combined.
Cost grows with the number of distinct names squared (cheap string checks), never with the
article's length.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.reading.matching import normalize, words
from bot.core.schemas import CitedCommitment, CitedOfficial, Commitment


def merge_official_drafts(drafts: Iterable[CitedOfficial]) -> list[CitedOfficial]:
    by_name: dict[str, CitedOfficial] = {}
    for draft in drafts:
        key = normalize(draft.name)
        if not key:
            continue
        if key in by_name:
            by_name[key] = _combine(by_name[key], draft)
        else:
            by_name[key] = draft.model_copy(deep=True)
    # Fold short forms into the one full name they abbreviate (longest names first).
    for key in sorted(by_name, key=len):
        targets = [other for other in by_name if other != key and _abbreviates(key, other)]
        if len(targets) == 1:
            full = by_name[targets[0]]
            by_name[targets[0]] = _combine(full, _given_names_out(by_name.pop(key), full.name))
    return list(by_name.values())


def canonical_name(name: str, full_names: Iterable[str]) -> str:
    """The full name that ``name`` abbreviates, if exactly one; else ``name`` itself."""
    key = normalize(name)
    matches = [
        full for full in full_names if key != normalize(full) and _abbreviates(key, normalize(full))
    ]
    return matches[0] if len(matches) == 1 else name


def _abbreviates(short: str, full: str) -> bool:
    """A lone surname or given name, a name cut short ("Yang Qing"), or the name without
    its leading given names or initials ("Venkata Rao" for "Ch. Venkata Rao")."""
    if len(short) >= len(full):
        return False
    short_words, full_words = short.split(), full.split()
    if len(short_words) == 1:
        return short in full_words
    if full_words[-len(short_words) :] == short_words:
        return True
    return full.startswith(short) and short_words[0] == full_words[0]


def _given_names_out(short: CitedOfficial, full_name: str) -> CitedOfficial:
    """A short form's title without the given names a model pushed into it: "Quintanilla
    Ortiz" with title "Reps. Teresa" is Teresa Quintanilla Ortiz, a Rep."""
    missing = [w for w in full_name.split() if normalize(w) not in normalize(short.name).split()]
    title = short.title.split()
    while missing and title and normalize(title[-1]) == normalize(missing[-1]):
        title.pop()
        missing.pop()
    if len(title) == len(short.title.split()):
        return short
    return short.model_copy(update={"title": " ".join(title)})


def _combine(kept: CitedOfficial, other: CitedOfficial) -> CitedOfficial:
    return CitedOfficial(
        name=kept.name if len(kept.name) >= len(other.name) else other.name,
        title=_join_parts(kept.title, other.title),
        organization=_join_parts(kept.organization, other.organization),
        sentences=list(dict.fromkeys([*kept.sentences, *other.sentences])),
    )


def _join_parts(first: str, second: str) -> str:
    """Union of ';'-separated parts, dropping any part another part already contains."""
    parts = [p.strip() for p in f"{first};{second}".split(";") if p.strip()]
    kept: list[str] = []
    for part in sorted(dict.fromkeys(parts), key=len, reverse=True):
        if not any(normalize(part) in normalize(longer) for longer in kept):
            kept.append(part)
    order = {p: i for i, p in enumerate(parts)}
    return "; ".join(sorted(kept, key=order.__getitem__))


def dedupe_commitments(items: Iterable[Commitment]) -> list[Commitment]:
    """One entry per commitment: same actor and mostly the same words or the same sentences."""
    kept: list[Commitment] = []
    for item in items:
        duplicate = next((k for k in kept if _same_commitment(k, item)), None)
        if duplicate is None:
            kept.append(item)
        elif len(item.commitment) > len(duplicate.commitment):
            kept[kept.index(duplicate)] = item
    return sorted(kept, key=lambda c: c.sentences[0] if c.sentences else 0)


def _same_commitment(a: Commitment, b: Commitment) -> bool:
    if normalize(a.actor) != normalize(b.actor):
        return False
    words_a, words_b = set(words(a.commitment)), set(words(b.commitment))
    overlap = len(words_a & words_b) / max(1, min(len(words_a), len(words_b)))
    return overlap >= 0.8 or (a.sentences == b.sentences and overlap >= 0.5)


def merge_commitment_drafts(drafts: Iterable[CitedCommitment]) -> list[CitedCommitment]:
    """Drop exact repeats before grounding (small models loop on one entry)."""
    seen: set[tuple[str, str]] = set()
    unique: list[CitedCommitment] = []
    for draft in drafts:
        key = (normalize(draft.actor), normalize(draft.commitment))
        if key not in seen:
            seen.add(key)
            unique.append(draft)
    return unique

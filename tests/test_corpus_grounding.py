"""The corpus guard: perfect drafts built from each gold file go through the real grounding.

A model that always answers right is simulated by drafts made from the gold answers (right
names, titles, organisations, pledges and actors; sentence numbers found by locating the
gold's names and keywords in the numbered article). Whatever grounding and merging then
lose is the code's fault, not the model's. Trap drafts (a neighbour's title, an invented
person or pledge, reporters, organisations, a title inside the name field) must be dropped
or repaired. No model, no network: this runs in the fast suite. ``python -m
tests.test_corpus_grounding`` prints the figures of every article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from bot.core.reading.chunking import CountTokens, NumberedArticle
from bot.core.schemas import CitedCommitment, CitedOfficial, Commitment, Official
from tests.fakes.gold_model import (
    _CJK,
    CORPUS,
    Gold,
    commitment_drafts,
    fold,
    is_cjk,
    load,
    mentions,
    names_of,
    naming,
    official_drafts,
    official_sentences,
    pledge_sentences,
)


def ground(
    article: NumberedArticle, officials: list[CitedOfficial], commitments: list[CitedCommitment]
) -> tuple[list[Official], list[Commitment]]:
    """The digest's own grounding and merging step."""
    from bot.core.reading.grounding import ground_drafts

    found, pledges, _ = ground_drafts(article, officials, commitments)
    return found, pledges


# --- drafts (the perfect ones are shared with the gold model) ------------------------------


def trap_officials(article: NumberedArticle, gold: Gold) -> list[CitedOfficial]:
    """Drafts a careless model writes; none of them may reach the digest as given."""
    officials = gold["officials"]
    first = officials[0]
    first_title = first["title_keywords"][0]
    first_sentences = official_sentences(article, first)
    traps = [
        CitedOfficial(
            name=_invented(gold), title=first_title, organization="", sentences=first_sentences
        ),
        CitedOfficial(
            name=_mixed_name(officials),
            title=first_title,
            organization="",
            sentences=first_sentences,
        ),
    ]
    for person in gold.get("not_officials", []):
        found = naming(article, person["name"])[:2]
        traps.append(CitedOfficial(name=person["name"], title=first_title, organization="",
                                   sentences=found))  # fmt: skip
    for actor in _organisations(gold):
        traps.append(CitedOfficial(name=actor, title="", organization="",
                                   sentences=naming(article, actor)[:1]))  # fmt: skip
    return traps


def _invented(gold: Gold) -> str:
    return "周海鹰" if is_cjk(gold) else "Harriet Quillfeather"


def _mixed_name(officials: list[Gold]) -> str:
    """One official's given name with another's surname: every word is in the text."""
    a: str = officials[0]["name"]
    b: str = officials[1]["name"]
    if _CJK.search(a):
        return b[0] + a[1:]
    return f"{a.split()[0]} {b.split()[-1]}"


def _organisations(gold: Gold) -> list[str]:
    people = {fold(n) for e in gold["officials"] for n in names_of(e)}
    return list(
        dict.fromkeys(c["actor"] for c in gold["commitments"] if fold(c["actor"]) not in people)
    )


def invented_pledge(article: NumberedArticle, gold: Gold) -> CitedCommitment:
    real = gold["commitments"][0]
    text = (
        "在月球建设航天发射场并取消全部税收"
        if is_cjk(gold)
        else ("build a spaceport on the moon and abolish every local tax by 2031")
    )
    return CitedCommitment(actor=real["actor"], commitment=text, deadline=None,
                           sentences=pledge_sentences(article, real))  # fmt: skip


# --- scoring -----------------------------------------------------------------------------------


@dataclass
class Score:
    officials: int = 0
    kept: int = 0
    titles_right: int = 0
    commitments: int = 0
    commitments_right: int = 0
    invented: list[str] = field(default_factory=list)
    not_officials: list[str] = field(default_factory=list)
    non_persons: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong_titles: list[str] = field(default_factory=list)
    lost_pledges: list[str] = field(default_factory=list)

    def row(self, slug: str) -> str:
        return (
            f"{slug[:34]:34} officials {self.kept:2}/{self.officials:2} titles "
            f"{self.titles_right:2}/{self.officials:2} pledges {self.commitments_right:2}/"
            f"{self.commitments:2} invented {len(self.invented)} not-officials "
            f"{len(self.not_officials)} non-persons {len(self.non_persons)} dup "
            f"{len(self.duplicates)}"
        )


def gold_entry(official: Official, gold: Gold) -> Gold | None:
    entries: list[Gold] = gold["officials"]
    for entry in entries:
        if any(fold(official.name) == fold(n) for n in names_of(entry)):
            return entry
    return None


def title_right(official: Official, entry: Gold) -> bool:
    role = fold(f"{official.title} {official.organization}")
    return any(fold(k) in role for k in entry["title_keywords"])


def actor_right(actor: str, wanted: str, gold: Gold) -> bool:
    def plain(text: str) -> str:
        return re.sub(r"^the ", "", fold(text))

    got, want = plain(actor), plain(wanted)
    for entry in gold["officials"]:
        if fold(entry["name"]) == want:
            return got in {fold(n) for n in names_of(entry)}
    return got == want or mentions(got, want) or mentions(want, got)


def score(
    article: NumberedArticle,
    gold: Gold,
    officials: list[Official],
    commitments: list[Commitment],
    drafts: list[CitedCommitment],
) -> Score:
    result = Score(officials=len(gold["officials"]), commitments=len(gold["commitments"]))
    seen: dict[str, int] = {}
    for official in officials:
        entry = gold_entry(official, gold)
        if entry is None:
            if any(fold(official.name) == fold(p["name"]) for p in gold.get("not_officials", [])):
                result.not_officials.append(official.name)
            elif not mentions(article.text, official.name):
                result.invented.append(official.name)
            else:
                result.non_persons.append(official.name)
            continue
        seen[entry["name"]] = seen.get(entry["name"], 0) + 1
        if seen[entry["name"]] > 1:
            result.duplicates.append(official.name)
            continue
        if fold(official.name) != fold(entry["name"]):
            result.missed.append(f"{entry['name']} (listed as {official.name})")
            continue
        result.kept += 1
        if title_right(official, entry):
            result.titles_right += 1
        else:
            result.wrong_titles.append(
                f"{official.name}: {official.title!r} / {official.organization!r}"
            )
    result.missed += [e["name"] for e in gold["officials"] if e["name"] not in seen]
    by_text = {fold(c.commitment): c for c in commitments}
    for wanted, draft in zip(gold["commitments"] if drafts else [], drafts, strict=True):
        got = by_text.get(fold(draft.commitment))
        if got is not None and actor_right(got.actor, wanted["actor"], gold):
            result.commitments_right += 1
        else:
            actor = got.actor if got else "dropped"
            result.lost_pledges.append(f"{wanted['actor']} <- {actor}: {draft.commitment[:50]}")
    return result


def run(slug: str, count_tokens: CountTokens) -> Score:
    article, gold = load(slug, count_tokens)
    pledges = commitment_drafts(article, gold)
    officials, commitments = ground(article, official_drafts(article, gold), pledges)
    return score(article, gold, officials, commitments, pledges)


# --- the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", CORPUS)
def test_right_answers_survive_grounding(slug: str, count_tokens: CountTokens) -> None:
    found = run(slug, count_tokens)
    assert found.missed == [] and found.kept == found.officials, found.row(slug)
    assert found.wrong_titles == [], found.row(slug)
    assert found.commitments_right >= 0.95 * found.commitments, found.lost_pledges
    assert (found.invented, found.not_officials, found.non_persons, found.duplicates) == (
        [],
        [],
        [],
        [],
    )


def test_right_answers_survive_on_the_whole_corpus(count_tokens: CountTokens) -> None:
    scores = [run(slug, count_tokens) for slug in CORPUS]
    kept = sum(s.commitments_right for s in scores)
    assert kept >= 0.95 * sum(s.commitments for s in scores)
    assert sum(s.titles_right for s in scores) == sum(s.officials for s in scores)


@pytest.mark.parametrize("slug", CORPUS)
def test_careless_drafts_are_dropped_or_repaired(slug: str, count_tokens: CountTokens) -> None:
    article, gold = load(slug, count_tokens)
    wrong = {w["name"]: w["not"] for w in gold["wrong_titles"]}
    drafts = [
        d.model_copy(update={"title": wrong[d.name], "organization": ""}) if d.name in wrong else d
        for d in official_drafts(article, gold)
    ]
    fake = invented_pledge(article, gold)
    officials, commitments = ground(
        article,
        [*drafts, *trap_officials(article, gold)],
        [*commitment_drafts(article, gold), fake],
    )
    found = score(article, gold, officials, [], [])
    assert (found.invented, found.not_officials, found.non_persons) == ([], [], [])
    by_name = {o.name: o for o in officials}
    for entry in gold["wrong_titles"]:
        official = by_name.get(entry["name"])
        assert official is not None, entry["name"]
        assert fold(entry["not"]) not in fold(f"{official.title} {official.organization}"), entry
    assert fold(fake.commitment) not in {fold(c.commitment) for c in commitments}


@pytest.mark.parametrize("slug", CORPUS)
def test_a_title_in_the_name_field_is_split_off(slug: str, count_tokens: CountTokens) -> None:
    article, gold = load(slug, count_tokens)
    drafts = []
    for entry in gold["officials"]:
        title = entry["title_keywords"][0]
        space = "" if _CJK.search(title) else " "
        drafts.append(CitedOfficial(name=f"{title}{space}{entry['name']}", title="",
                                    organization="",
                                    sentences=official_sentences(article, entry)))  # fmt: skip
    officials, _ = ground(article, drafts, [])
    found = score(article, gold, officials, [], [])
    assert found.missed == [] and found.wrong_titles == [], found.row(slug)


def test_the_injected_name_is_never_listed(count_tokens: CountTokens) -> None:
    article, _ = load("millbrook-falls-council-stormwater", count_tokens)
    injected = next(s.number for s in article.sentences if "Li Wei" in s.text)
    draft = CitedOfficial(name="Li Wei", title="mayor", organization="", sentences=[injected])
    officials, _ = ground(article, [draft], [])
    assert "Li Wei" not in {o.name for o in officials}
    assert all("system prompt" not in o.title.lower() for o in officials)


# --- what code reads for a small model: names only, no pledges from the model -------------


def test_code_reads_most_pledges_when_the_model_gives_only_names(
    count_tokens: CountTokens,
) -> None:
    """The embedded small model names people but misses most pledges (1 in 13 on two corpus
    articles). Given only the right names, as it gives them, code must read the pledges, plans
    and calls on others itself, with the right actor, in every style of the corpus."""
    from bot.cli.evaluation import score_digest
    from bot.core.reading.grounding import ground_drafts
    from bot.core.schemas import Digest, DigestStats

    expected = found = actors = 0
    for slug in CORPUS:
        article, gold = load(slug, count_tokens)
        names = [CitedOfficial(name=o["name"], title="", organization="", sentences=[])
                 for o in gold["officials"]]  # fmt: skip
        officials, pledges, _ = ground_drafts(article, names, [], read_commitments=True)
        digest = Digest(summary="-", key_points=[], officials=officials, commitments=pledges,
                        stats=DigestStats())  # fmt: skip
        score = score_digest(digest, article.text, gold)
        expected += score["commitments_expected"]
        found += score["commitments_matched"]
        actors += score["commitment_actors_right"]
        assert score["invented_people"] == [] and score["reporters_listed"] == [], slug
        # Not a pledge: a capitalised first word before "will" is no actor.
        assert not any(p.actor in {"Plans", "Passengers", "Lightweight"} for p in pledges), slug
    assert found >= 0.7 * expected, f"{found}/{expected} pledges read"  # 191/247 today
    assert actors >= 0.9 * found, f"{actors}/{found} with the right actor"


def code_only(count_tokens: CountTokens) -> tuple[int, int, int]:
    """Officials found and titles right by code alone (no names from a model), and expected;
    every article's people checked for reporters, invented people and bodies."""
    from bot.cli.evaluation import score_digest
    from bot.core.reading.grounding import ground_drafts
    from bot.core.schemas import Digest, DigestStats

    expected = found = titled = 0
    for slug in CORPUS:
        article, gold = load(slug, count_tokens)
        officials, _, _ = ground_drafts(article, [], [], read_commitments=True)
        digest = Digest(summary="-", key_points=[], officials=officials, commitments=[],
                        stats=DigestStats())  # fmt: skip
        score = score_digest(digest, article.text, gold)
        expected += score["officials_expected"]
        found += score["officials_found"]
        titled += score["titles_right"]
        wrong = score["invented_people"] + score["reporters_listed"] + score["other_people"]
        assert wrong == [], (slug, wrong)
    return found, titled, expected


def test_code_finds_most_officials_written_with_their_role(count_tokens: CountTokens) -> None:
    """A small model stops early in a long list and skips names that end a quote ("said EIB
    Vice-President Jörg Altenhöfer."). With no names from the model at all, code must still
    find most officials, by the title written beside the name or over the list the name is
    in, in every style and in both languages, and never a reporter, an invented person or a
    body."""
    found, titled, expected = code_only(count_tokens)
    # 211/215 today (173 before code read whole lists under one title).
    assert found >= 0.95 * expected, f"{found}/{expected} officials found by code"
    assert titled >= 0.95 * found, f"{titled}/{found} titles right"  # 208/211 today


def main() -> None:
    """Print the gold-draft figures of every article, then what code finds alone:
    ``python -m tests.test_corpus_grounding``."""
    import tempfile
    from pathlib import Path

    from bot.core.models.encodings import load_encoding

    encoding = load_encoding("o200k_base", Path(tempfile.gettempdir()) / "digestbot-tiktoken")
    totals = [0, 0, 0]
    for slug in CORPUS:
        score = run(slug, lambda text: len(encoding.encode_ordinary(text)))
        totals = [totals[0] + score.kept, totals[1] + score.titles_right,
                  totals[2] + score.officials]  # fmt: skip
        print(score.row(slug))
        for label in ("missed", "wrong_titles", "non_persons", "duplicates", "lost_pledges"):
            if getattr(score, label):
                print(f"    {label}: {getattr(score, label)}")
    print(f"officials kept {totals[0]}/{totals[2]}, titles right {totals[1]}/{totals[2]}")
    found, titled, expected = code_only(lambda text: len(encoding.encode_ordinary(text)))
    print(f"code alone (no names from a model): officials {found}/{expected}, titles {titled}")


if __name__ == "__main__":
    main()

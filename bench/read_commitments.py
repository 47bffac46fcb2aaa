"""The commitments code reads by itself, scored like ``digestbot eval`` (issue 20).

    python bench/read_commitments.py            # the table and the total
    python bench/read_commitments.py -v         # with every commitment listed
    python bench/read_commitments.py --missed   # each reference commitment not found, and
                                                # the sentences that hold its keywords

For small models (the embedded one), the digest's commitments are mostly what code reads
from the article's sentences (``Grounder.stated_commitments``), merged with the model's few:
on the 21 dev articles the embedded model's digests found 193 reference commitments when
code alone found 194. So this measures, in seconds and with no model, what the embedded
model's evaluation takes 90 minutes to: each article is grounded with the reference
officials (the perfect drafts of ``tests/test_corpus_grounding.py``) and no commitment from
any model, then refined as a small model's digest is, and scored by ``digestbot eval``'s own
rules: found (and with the right actor), listed, precise, duplicates.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

from bot.cli.evaluation import _has, score_digest
from bot.core.reading.commitments import refine
from bot.core.reading.grounding import ground_drafts
from tests.fakes.gold_model import CORPUS, load, official_drafts


def _count(text: str) -> int:
    return len(text.split())  # chunk sizes do not matter here: the article is read whole


def read(slug: str) -> tuple[Any, Any, Any]:
    """The article, its gold, and the digest as code reads it (no model commitments)."""
    article, gold = load(slug, _count)
    officials, grounded, _ = ground_drafts(
        article, official_drafts(article, gold), [], read_commitments=True
    )
    commitments, _ = refine(article, grounded, own_words=True)
    digest = SimpleNamespace(officials=officials, commitments=commitments, summary="",
                             key_points=[])  # fmt: skip
    return article, gold, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--missed", action="store_true")
    parser.add_argument("only", nargs="*", help="articles whose name holds one of these")
    options = parser.parse_args()
    keys = ("commitments_expected", "commitments_matched", "commitment_actors_right",
            "commitments_listed", "commitments_precise")  # fmt: skip
    total = dict.fromkeys(keys, 0) | {"duplicates": 0}
    for slug in CORPUS:
        if options.only and not any(part in slug for part in options.only):
            continue
        article, gold, digest = read(slug)
        row = score_digest(digest, article.text, gold)
        for key in keys:
            total[key] += row[key]
        total["duplicates"] += len(row["duplicate_commitments"])
        print(f"{slug[:40]:40} found {row['commitments_matched']:2}/"
              f"{row['commitments_expected']:2} actor {row['commitment_actors_right']:2} "
              f"listed {row['commitments_listed']:2} precise {row['commitments_precise']:2} "
              f"repeats {len(row['duplicate_commitments'])}")  # fmt: skip
        for item in digest.commitments if options.verbose else []:
            print(f"    + {item.actor} | {item.commitment[:110]}")
        for expected in gold["commitments"] if options.missed else []:
            words = expected["keywords"]
            if any(
                sum(_has(f"{c.commitment} {c.quote}", k) for k in words) * 2 >= len(words)
                for c in digest.commitments
            ):
                continue
            print(f"    missed [{expected['actor']}] {words}")
            for sentence in article.sentences:
                if any(_has(sentence.text, k) for k in words):
                    print(f"        > {sentence.text[:200]}")
    found, expected = total["commitments_matched"], total["commitments_expected"]
    listed, precise = total["commitments_listed"], total["commitments_precise"]
    print(
        f"total: found {found}/{expected} ({found / max(1, expected):.0%}), right actor "
        f"{total['commitment_actors_right']}, listed {listed}, precise {precise} "
        f"({precise / max(1, listed):.0%}), repeats {total['duplicates']}"
    )


if __name__ == "__main__":
    main()

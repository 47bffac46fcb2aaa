"""BM25 scores over tokenised passages, for follow-ups on long articles and questions across
articles: ``bm25s`` does the ranking; this keeps its logging quiet and its import lazy."""

from __future__ import annotations

import logging


def bm25_scores(corpus: list[list[str]], query: list[str]) -> list[float]:
    """The score of each passage of ``corpus`` (each a non-empty list of terms) for ``query``."""
    import bm25s  # here, not at import: only questions rank passages

    # bm25s sets its logger to DEBUG when imported: its line per index would reach the
    # terminal of a CLI user, whose logging shows warnings only.
    logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().level))
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    return [float(score) for score in retriever.get_scores(query)]

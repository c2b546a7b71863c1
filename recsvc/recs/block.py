"""The block form of ranking: many query-free requests ranked with the per-call work done once.

A batch run ranks hundreds of users in a row, and most of one user's ranking time is the fixed cost
of many small numpy calls. Here the nearest-item searches of a block of users share their setup,
the candidate features of all their candidates are built in one pass (:mod:`recsvc.recs.block_features`)
and the ranker scores them all in one call. Every step computes each user's numbers exactly as the
one-user path does (the same operations on the same values, element by element), so each user's
candidates, order, scores and reasons are the ones ``recommend`` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recsvc.recs.block_features import build_features_block
from recsvc.recs.hybrid import QueryHits
from recsvc.recs.pipeline import CandidatePipeline
from recsvc.recs.profile import UserProfile
from recsvc.recs.ranker import Ranker
from recsvc.recs.sources import Candidates
from recsvc.recs.unixtime import local_hour

if TYPE_CHECKING:
    from recsvc.recs.serving import RecRequest


@dataclass
class Work:
    """One request's candidates and their features, before the ranker scores them."""

    req: RecRequest
    now: float
    prof: UserProfile
    excluded: np.ndarray
    pushed: np.ndarray
    cands: Candidates
    x: np.ndarray
    hits: QueryHits | None = None
    query: str = ""


# (unix time, profile, excluded rows, recently pushed rows) of one request
Inputs = tuple[float, UserProfile, np.ndarray, np.ndarray]


def rank_block(
    pipe: CandidatePipeline,
    ranker: Ranker,
    reqs: Sequence[RecRequest],
    inputs: Callable[[RecRequest], Inputs],
) -> list[tuple[Work | None, np.ndarray | None]]:
    """Each query-free request's work (None: no candidate) and its ranker scores (None for the
    "popular" policy, which the ranker does not score)."""
    firsts = [inputs(r) for r in reqs]
    hard = [np.union1d(ex, pushed) for _, _, ex, pushed in firsts]
    banned = [pipe.banned(prof, h) for (_, prof, _, _), h in zip(firsts, hard, strict=True)]
    vecs = [pipe.retrieval_vector(prof) for _, prof, _, _ in firsts]
    hits = pipe.embedding_hits_many(vecs, [len(b) for b in banned])
    works: list[Work | None] = []
    for req, (now, prof, ex, pushed), h, b, eh in zip(reqs, firsts, hard, banned, hits, strict=True):
        cands = pipe.candidates(
            prof, now=now, hour=local_hour(req.now), city=req.city, trigger=req.trigger, banned=b,
            hard_banned=h, hits=eh,
        )  # fmt: skip
        empty = np.zeros((0, 0), dtype=np.float32)  # the features come next, for all users at once
        works.append(Work(req, now, prof, ex, pushed, cands, empty) if len(cands.rows) else None)
    full = [w for w in works if w is not None]
    if not full:
        return [(None, None) for _ in works]
    x = build_features_block(pipe, [(w.cands, w.prof, w.now, w.req.city, w.req.stage) for w in full])
    bounds = np.cumsum([len(w.cands.rows) for w in full])[:-1]
    for w, part in zip(full, np.split(x, bounds), strict=True):
        w.x = part
    scored = [w.req.policy != "popular" for w in full]
    # the ranker over every scored row at once: a row's score depends on that row alone
    if all(scored):
        parts = np.split(_scores(ranker, x), bounds)
    else:
        keep = np.repeat(np.array(scored), [len(w.cands.rows) for w in full])
        lens = [len(w.cands.rows) for w, s in zip(full, scored, strict=True) if s]
        it = iter(np.split(_scores(ranker, x[keep]), np.cumsum(lens)[:-1]))
        parts = [next(it) if s else None for s in scored]  # type: ignore[misc]
    # the EASE blend ranks within one user's candidates, so it follows the split
    parts = [ranker.order(p, w.x) if p is not None else None for p, w in zip(parts, full, strict=True)]
    by_work = iter(parts)
    return [(w, next(by_work) if w is not None else None) for w in works]


# rows the ranker is given at a time: the compiled trees read row-major float64, so each call
# converts its rows of the column-major feature matrix; a few thousand at a time keep that copy small
SCORE_ROWS = 2048


def _scores(ranker: Ranker, x: np.ndarray) -> np.ndarray:
    if len(x) <= SCORE_ROWS:
        return ranker.score_rows(x)
    return np.concatenate([ranker.score_rows(x[i : i + SCORE_ROWS]) for i in range(0, len(x), SCORE_ROWS)])

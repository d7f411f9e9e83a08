"""The park's side of a match: where a given park stands among a firm's own options.

Leads, why-not, what-if and compare all ask the same question the other way round: not "which
park for this firm" but "where does *this* park stand for this firm, and against whom".  The
answer is always the served ranker's: :meth:`matcher.core.Matcher.with_parks` adds the asked
parks to the retrieved candidates (FAISS may not have returned them), :meth:`Matcher.score`
scores them beside the firm's own options and :meth:`Matcher.order` gives the order the firm's
own recommendation shows, so a park's rank here is the rank ``recommend`` would print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features import schemas as S
from features.pairs import FirmArrays, criterion_scores
from features.validation import FirmBatch
from matcher.constraints import explain_rule
from matcher.core import Candidates, Matcher

# The criterion groups of the ranker's contributions, as an officer names them.
GROUP_ZH: dict[str, str] = {
    "industry_chain": "产业链匹配",
    "land": "用地与地价",
    "talent": "人才",
    "subsidy": "政策支持",
    "proximity": "区位（距北京）",
    "platform": "平台类型与承接能力",
    "designation": "定向承接政策",
    "precedent": "同类迁入案例",
}
CRITERION_ZH: dict[str, str] = {c: S.OUTPUT_HEADERS_ZH[c] for c in S.CRITERIA}


@dataclass
class Standing:
    """For each firm of ``batch``: its candidates (own options plus the asked parks), their
    scores and display order, and for each asked park its column (-1 where a hard rule removes
    it) and 1-based rank (0 where removed)."""

    matcher: Matcher
    batch: FirmBatch
    firms: FirmArrays
    cands: Candidates
    x: np.ndarray
    scores: np.ndarray
    order: np.ndarray
    col: np.ndarray
    rank: np.ndarray
    asked: np.ndarray

    @property
    def n_options(self) -> np.ndarray:
        return np.isfinite(self.scores).sum(axis=1)

    def at(self, i: int, rank: int) -> int:
        """Candidate column of firm ``i``'s park at 1-based ``rank`` (-1 beyond its options)."""
        if rank > int(self.n_options[i]):
            return -1
        return int(self.order[i, rank - 1])

    def park(self, i: int, c: int) -> int:
        return int(self.cands.parks[i, c])

    def score(self, i: int, c: int) -> float:
        return float(self.scores[i, c])

    def criteria(self, i: int, c: int) -> np.ndarray:
        return criterion_scores(self.x[i, c][None, :])[0]

    def contributions(self, i: int, c: int) -> np.ndarray:
        return self.matcher.ranker.contributions(self.x[i, c][None, :])[0]

    def reasons(self, i: int, cols: Sequence[int]) -> list[list[str]]:
        """The recommendation's own reasons (:class:`matcher.explain.ReasonWriter`) for the
        given candidate columns of firm ``i``."""
        cols = list(cols)
        if not cols:
            return []
        xs = self.x[i, cols]
        contrib = self.matcher.ranker.contributions(xs)
        parks = self.cands.parks[i, cols]
        return self.matcher.reason_writer.write(contrib, parks, np.full(len(cols), i), self.batch.cols)

    def removal(self, i: int, j: int) -> tuple[str, str] | None:
        """(rule, Chinese detail) when a hard rule removes asked park ``j`` for firm ``i``."""
        p = int(self.asked[j])
        code = int(self.cands.infeasible[i, p])
        if code == 0:
            return None
        return explain_rule(code, self.firms, self.matcher.park_arrays, i, p)


def standing(matcher: Matcher, batch: FirmBatch, parks: Sequence[int]) -> Standing:
    """Score the firm's options and the asked catalogue positions ``parks`` together."""
    firms, cands, x, col = matcher.with_parks(batch, parks)
    scores = matcher.score(x, cands.parks)
    order = matcher.order(scores, cands.parks)
    n, k = scores.shape
    rank_of = np.empty((n, k), dtype=np.int64)
    np.put_along_axis(rank_of, order, np.broadcast_to(np.arange(1, k + 1), (n, k)), axis=1)
    rank = np.where(col >= 0, np.take_along_axis(rank_of, np.where(col < 0, 0, col), axis=1), 0)
    return Standing(matcher, batch, firms, cands, x, scores, order, col, rank, np.asarray(parks, np.int64))


def park_position(matcher: Matcher, park_id: str) -> int:
    """Catalogue position of ``park_id``; ``KeyError`` naming it when the catalogue has no such park."""
    hits = np.flatnonzero(matcher.park_arrays.ids == park_id)
    if not len(hits):
        raise KeyError(park_id)
    return int(hits[0])


def gap_sentence(ours: np.ndarray, theirs: np.ndarray, groups: Sequence[str], top: int = 2) -> str:
    """The criteria in which the other park's contributions exceed ours most, in Chinese."""
    diff = np.asarray(theirs) - np.asarray(ours)
    order = [int(g) for g in np.argsort(-diff) if diff[g] > 1e-6][:top]
    if not order:
        return ""
    return "、".join(GROUP_ZH.get(groups[g], groups[g]) for g in order)


def criterion_gap(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float | None]:
    """Per criterion: the other park's score minus ours (positive: we are behind); None where
    either rests on unknown values."""
    return {
        c: (None if np.isnan(a) or np.isnan(b) else round(float(b - a), 4))
        for c, a, b in zip(S.CRITERIA, ours, theirs, strict=True)
    }


def criteria_dict(values: np.ndarray) -> dict[str, float | None]:
    return {c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(S.CRITERIA, values, strict=True)}

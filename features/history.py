"""Where earlier movers went: the relocation history as features.

Firms follow firms: a park that already hosts a cluster of the same industry offers suppliers,
skilled workers and a management committee that knows the trade, and a park many firms chose is
one that delivers on its promises.  Neither shows in the catalogue, but both show in the history.

The stage counts arrivals per (industry division, park) *before* each year, so an event of year t
only sees moves that happened before t (no look-ahead), and serving sees the whole history.
Shares are smoothed towards uniform so a park with no history is not ruled out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from features.pairs import code_index


class ArrivalHistory:
    """Cumulative arrival counts by year, division and park; features are log share ratios."""

    def __init__(self, smoothing: float = 5.0):
        self.smoothing = smoothing

    def fit(
        self, divisions: np.ndarray, parks: np.ndarray, years: np.ndarray, n_parks: int
    ) -> ArrivalHistory:
        """``divisions``: position of each mover's 2-digit code (``code_index()[0]``); ``parks``:
        position of the park it chose (-1 if not in the catalogue); ``years``: the year it moved."""
        n_div = len(code_index()[0]) + 1
        ok = (parks >= 0) & (divisions >= 0)
        self.years_ = np.unique(years[ok]).astype(np.int64)
        counts = np.zeros((len(self.years_) + 1, n_div, n_parks), dtype=np.float32)
        for k, year in enumerate(self.years_):
            sel = ok & (years == year)
            np.add.at(counts[k + 1], (divisions[sel], parks[sel]), 1.0)
        self.counts_ = np.cumsum(counts, axis=0)  # row k: arrivals before years_[k]; last row: all
        return self

    @property
    def park_totals_(self) -> np.ndarray:
        """(years + 1, P) arrivals of all divisions; derived, so it is never saved."""
        cached = getattr(self, "_park_totals", None)
        if cached is None or cached.shape[0] != self.counts_.shape[0]:
            cached = self._park_totals = self.counts_.sum(axis=1)
        return cached

    @property
    def _sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(arrivals per park, arrivals in all, arrivals per division) for every history row;
        derived from ``counts_``, so never saved."""
        cached = getattr(self, "_sums_cache", None)
        if cached is None or cached[0].shape != self.park_totals_.shape:
            totals = self.park_totals_
            cached = self._sums_cache = (totals, totals.sum(axis=1), self.counts_.sum(axis=2))
        return cached

    def _rows(self, years: np.ndarray | None, n: int) -> np.ndarray:
        if years is None:
            return np.full(n, len(self.years_), dtype=np.int64)
        return np.searchsorted(self.years_, np.asarray(years, dtype=np.int64), side="left")

    def features(
        self, divisions: np.ndarray, cand: np.ndarray, years: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cluster, popularity), each (n, k): log of the park's smoothed share of earlier movers
        (of the firm's division, and of all divisions) relative to an even spread over parks."""
        n = cand.shape[0]
        n_parks = self.counts_.shape[2]
        rows = self._rows(years, n)
        cp = np.where(cand < 0, 0, cand)
        div = np.where(divisions < 0, self.counts_.shape[1] - 1, divisions)
        # gathers of the candidates' cells and of precomputed row sums, never (n, P) copies
        park_totals, totals, div_totals = self._sums
        popular = (park_totals[rows[:, None], cp] + self.smoothing) / (
            totals[rows][:, None] + self.smoothing * n_parks
        )
        prior = popular * self.smoothing * n_parks / 10.0
        cluster = (self.counts_[rows[:, None], div[:, None], cp] + prior) / (
            div_totals[rows, div][:, None] + self.smoothing * n_parks / 10.0
        )
        return np.log(cluster * n_parks).astype(np.float32), np.log(popular * n_parks).astype(np.float32)

    def save(self, directory: Path) -> list[Path]:
        np.save(directory / "history_counts.npy", self.counts_, allow_pickle=False)
        (directory / "history.json").write_text(
            json.dumps({"smoothing": self.smoothing, "years": [int(y) for y in self.years_]}),
            encoding="utf-8",
        )
        return [directory / "history_counts.npy", directory / "history.json"]

    @classmethod
    def load(cls, directory: Path) -> ArrivalHistory:
        state = json.loads((directory / "history.json").read_text(encoding="utf-8"))
        self = cls(smoothing=float(state["smoothing"]))
        self.years_ = np.asarray(state["years"], dtype=np.int64)
        self.counts_ = np.load(directory / "history_counts.npy", allow_pickle=False)
        return self

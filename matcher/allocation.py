"""Capacity-aware first choices over a whole list of firms (``parkmatch match --allocate``).

Ranking scores each firm alone, so popular parks collect far more first choices than they have
places; :func:`allocate` hands out ``capacity_per_year`` places once over the list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features import schemas as S
from matcher.metrics import gini

ALLOCATED_RANK = "allocated_rank"
ALLOCATED = "allocated"
#: the columns of the recommendation parts that :func:`allocation_columns` reads
ALLOCATION_INPUT_COLUMNS = [S.ROW, S.PARK_ID, S.SCORE]


UNLIMITED = 1_000_000_000


def allocate(
    firm_start: np.ndarray, park_pos: np.ndarray, score: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Capacity-aware first choices over the whole list.

    ``firm_start`` indexes the first (rank 1) row of each firm in the long arrays ``park_pos``
    / ``score`` (rows of a firm are contiguous and in rank order).  Firms are served in order of
    their score margin (rank 1 minus rank 2; a firm with a single park has an infinite margin),
    largest first: the firm that loses most by not getting its favourite chooses first, as in
    an ascending auction.  Each takes the best park of its list with capacity left
    (``capacity_per_year``; the list is treated as one year's cohort).  Firms whose every listed
    park is full keep their order and are flagged ``allocated = False``.

    Returns ``allocated_rank`` per long row, ``allocated`` per firm, and the statistics.
    """
    n_rows = park_pos.shape[0]
    n_firms = firm_start.shape[0]
    n_parks = capacity.shape[0]
    ends = np.append(firm_start[1:], n_rows)
    sizes = ends - firm_start
    second = np.where(sizes > 1, score[np.minimum(firm_start + 1, n_rows - 1)], -np.inf)
    margin = score[firm_start] - second if n_firms else np.zeros(0)
    order = np.lexsort((np.arange(n_firms), -margin))
    remaining = np.maximum(np.asarray(capacity, dtype=np.int64), 0).copy()
    left = int(remaining.sum())
    chosen = np.zeros(n_firms, dtype=np.int64)  # offset inside the firm's list
    allocated = np.zeros(n_firms, dtype=bool)
    pp = park_pos.tolist()
    for f in order.tolist():
        if left <= 0:
            break
        s = int(firm_start[f])
        for off in range(int(sizes[f])):
            p = pp[s + off]
            if remaining[p] > 0:
                remaining[p] -= 1
                left -= 1
                chosen[f] = off
                allocated[f] = True
                break
    # allocated_rank: the chosen row becomes 1, the rows ranked above it shift down by one.
    firm_of_row = np.repeat(np.arange(n_firms), sizes)
    offset = np.arange(n_rows) - firm_start[firm_of_row]
    ch = chosen[firm_of_row]
    alloc_rank = np.where(offset == ch, 1, np.where(offset < ch, offset + 2, offset + 1)).astype(np.int64)
    before = np.bincount(park_pos[firm_start], minlength=n_parks) if n_firms else np.zeros(n_parks, np.int64)
    after_pos = park_pos[firm_start + chosen] if n_firms else np.zeros(0, np.int64)
    after = np.bincount(after_pos, minlength=n_parks) if n_firms else np.zeros(n_parks, np.int64)
    stats = {
        "n_parks": int(n_parks),
        "firms": int(n_firms),
        "capacity_total": int(np.maximum(capacity, 0).sum()),
        "coverage_before": float((before > 0).sum() / max(n_parks, 1)),
        "coverage_after": float((after > 0).sum() / max(n_parks, 1)),
        "gini_before": gini(before),
        "gini_after": gini(after),
        "moved": int((chosen > 0).sum()),
        "unallocated": int((~allocated).sum()),
        "over_capacity_before": int(np.maximum(before - np.maximum(capacity, 0), 0).sum()),
        "over_capacity_after_allocated": int(
            np.maximum(
                np.bincount(after_pos[allocated], minlength=n_parks) - np.maximum(capacity, 0), 0
            ).sum()
        )
        if n_firms
        else 0,
    }
    return alloc_rank, allocated, stats


def allocation_columns(
    parts: Iterable[pa.Table], parks: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``allocated_rank`` and ``allocated`` per long row of ``parts``, and the statistics.

    ``parts`` are the recommendation tables of a batch run in row order, each with at least
    :data:`ALLOCATION_INPUT_COLUMNS`; a firm's rows are contiguous and in rank order.
    """
    ids = parks[S.PARK_ID].astype(str).tolist()
    pos = {p: i for i, p in enumerate(ids)}
    # a capacity no source states is no limit: allocation only ever enforces documented capacity
    capacity = pd.to_numeric(parks[S.CAPACITY_PER_YEAR], errors="coerce").fillna(UNLIMITED).to_numpy(np.int64)
    rows_l, park_l, score_l = [], [], []
    for t in parts:
        rows_l.append(t.column(S.ROW).to_numpy())
        park_l.append(np.array([pos[p] for p in t.column(S.PARK_ID).to_pylist()], dtype=np.int32))
        score_l.append(t.column(S.SCORE).to_numpy())
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
    park = np.concatenate(park_l) if park_l else np.zeros(0, np.int32)
    score = np.concatenate(score_l) if score_l else np.zeros(0)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.shape[0] else np.zeros(0, np.int64)
    alloc_rank, allocated, stats = allocate(starts, park, score, capacity)
    sizes = np.diff(np.append(starts, rows.shape[0]))
    return alloc_rank, np.repeat(allocated, sizes), stats

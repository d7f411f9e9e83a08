"""Officers' recorded outcomes as graded ranking groups.

An outcome says what became of one firm–park pair after a recommendation: signed or landed
(grade 3), visited (2), shortlisted (1) or rejected (0).  One firm's outcomes over several parks
form one group: the candidates the serving path retrieves for the firm, plus every park an
officer recorded for it (a park retrieval did not return is added, as the park side does), each
labelled with the grade of the pair's latest outcome and 0 for the candidates nobody pursued.
A firm whose outcomes are all rejections teaches LambdaRank nothing and is dropped by ``flat``.

Only outcomes recorded with the firm's profile can be rebuilt into features; the rest are
counted, not learned from.  Nothing here reads a firm's name or id as a feature: the profile goes
through the same validation, imputation and pair features as any firm served.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features import schemas as S
from features.validation import columns_from_records
from matcher.core import Matcher

OUTCOME_ID = "outcome_id"
PROFILE = "profile"
PROFILE_HASH = "profile_hash"
CREATED = "created"
OUTCOME = "outcome"
GRADE = "grade"
OUTCOME_COLUMNS: tuple[str, ...] = (OUTCOME_ID, "org", S.PARK_ID, OUTCOME, PROFILE, PROFILE_HASH, CREATED)


@dataclass(frozen=True)
class OutcomeRecord:
    """One recorded outcome with the firm's profile, as the composition root reads it from the
    database (typed values only: training never sees the database)."""

    outcome_id: int
    org: str
    park_id: str
    outcome: str
    profile: dict[str, Any]
    profile_hash: str
    created: datetime


def outcome_frame(records: list[OutcomeRecord]) -> pd.DataFrame:
    """The records as a frame with their grade; an unknown outcome word is refused by name."""
    bad = [r.outcome for r in records if r.outcome not in S.OUTCOME_GRADE]
    if bad:
        raise ValueError(f"outcome {bad[0]!r} is not one of {', '.join(S.OUTCOMES)}")
    df = pd.DataFrame(
        [
            {
                OUTCOME_ID: r.outcome_id,
                "org": r.org,
                S.PARK_ID: r.park_id,
                OUTCOME: r.outcome,
                PROFILE: r.profile,
                PROFILE_HASH: r.profile_hash,
                CREATED: pd.Timestamp(r.created),
            }
            for r in records
        ],
        columns=list(OUTCOME_COLUMNS),
    )
    df[GRADE] = df[OUTCOME].map(S.OUTCOME_GRADE).astype("int64")
    return df.sort_values([CREATED, OUTCOME_ID], kind="stable").reset_index(drop=True)


def fingerprint(outcomes: pd.DataFrame) -> dict[str, Any]:
    """What the manifest records of the outcomes a bundle learned from: count, firms, date range,
    the counts per outcome and a SHA-256 over (id, park, outcome, profile hash) in id order, so
    that the same outcomes always give the same hash and any change gives another."""
    h = hashlib.sha256()
    for r in outcomes.sort_values(OUTCOME_ID).itertuples(index=False):
        h.update(f"{getattr(r, OUTCOME_ID)}|{getattr(r, S.PARK_ID)}|{r.outcome}|{r.profile_hash}\n".encode())
    empty = outcomes.empty
    return {
        "count": len(outcomes),
        "firms": int(outcomes[PROFILE_HASH].nunique()),
        "first": None if empty else outcomes[CREATED].min().isoformat(),
        "last": None if empty else outcomes[CREATED].max().isoformat(),
        "max_id": None if empty else int(outcomes[OUTCOME_ID].max()),
        "by_outcome": {k: int(v) for k, v in outcomes[OUTCOME].value_counts().sort_index().items()},
        "sha256": h.hexdigest(),
    }


def pair_grades(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (firm, park): the grade of the pair's latest outcome (a visit later rejected
    is a rejection), with the firm's profile and the time of its latest outcome."""
    latest = outcomes.sort_values([CREATED, OUTCOME_ID], kind="stable").groupby(
        [PROFILE_HASH, S.PARK_ID], sort=False
    )
    return latest.tail(1).reset_index(drop=True)


@dataclass
class OutcomeGroups:
    """Outcomes as ranking groups over the serving path's candidates (-1 label for padding)."""

    firms: pd.DataFrame  # one row per firm: profile hash, profile, time of its latest outcome
    x: np.ndarray
    labels: np.ndarray
    cand: np.ndarray

    def flat(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = np.arange(len(self.labels)) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(idx) == 0:
            f = self.x.shape[2] if self.x.ndim == 3 else 0
            return np.zeros((0, f)), np.zeros(0, np.int64), np.zeros(0, np.int64)
        idx = idx[(self.labels[idx] > 0).any(axis=1)]
        valid = self.labels[idx] >= 0
        return self.x[idx][valid], self.labels[idx][valid], valid.sum(axis=1)


def outcome_groups(matcher: Matcher, outcomes: pd.DataFrame) -> OutcomeGroups:
    """Features of every firm with outcomes through the serving path, its recorded parks added.

    Firms are handled together per set of recorded parks (:meth:`Matcher.with_parks` adds the
    same parks to every firm of a call), so the cost is one pass per distinct set, not per firm.
    A recorded park a hard rule removes for the firm stays out: serving would never show it.
    A profile the validation refuses is skipped (it was valid when recorded; a later schema may
    not accept it)."""
    pairs = pair_grades(outcomes)
    pos = {str(p): i for i, p in enumerate(matcher.park_arrays.ids)}
    pairs = pairs[pairs[S.PARK_ID].astype(str).isin(pos)]
    firms = (
        pairs.groupby(PROFILE_HASH, sort=False)
        .agg(profile=(PROFILE, "first"), last=(CREATED, "max"))
        .reset_index()
        .sort_values(["last", PROFILE_HASH], kind="stable")
        .reset_index(drop=True)
    )
    grade_of = {
        (str(h), pos[str(p)]): int(g)
        for h, p, g in zip(pairs[PROFILE_HASH], pairs[S.PARK_ID], pairs[GRADE], strict=True)
    }
    parks_of: dict[str, tuple[int, ...]] = {}
    for h, p in zip(pairs[PROFILE_HASH], pairs[S.PARK_ID], strict=True):
        parks_of[str(h)] = tuple(sorted({*parks_of.get(str(h), ()), pos[str(p)]}))
    by_set: dict[tuple[int, ...], list[int]] = {}
    for i, h in enumerate(firms[PROFILE_HASH].astype(str)):
        by_set.setdefault(parks_of[h], []).append(i)

    parts: list[tuple[list[int], np.ndarray, np.ndarray, np.ndarray]] = []
    for park_set, rows in by_set.items():
        recs = [_profile_record(firms.at[i, PROFILE]) for i in rows]
        batch, errors = matcher.prepare(columns_from_records(recs), rows=np.arange(len(rows)))
        bad = {e.row for e in errors}
        kept = [r for j, r in enumerate(rows) if j not in bad]
        if not kept:
            continue
        _fa, cands, x, _col = matcher.with_parks(batch, park_set)
        labels = np.zeros(cands.parks.shape, dtype=np.int64)
        for j, i in enumerate(kept):
            h = str(firms.at[i, PROFILE_HASH])
            labels[j] = [grade_of.get((h, int(p)), 0) for p in cands.parks[j]]
        labels = np.where(cands.parks < 0, -1, labels)
        parts.append((kept, x, labels, cands.parks))
    if not parts:
        f = len(matcher.ranker.feature_names)
        return OutcomeGroups(
            firms.iloc[0:0], np.zeros((0, 1, f)), np.zeros((0, 1), np.int64), np.zeros((0, 1), np.int64)
        )
    width = max(p[1].shape[1] for p in parts)
    xs, ls, cs, order = [], [], [], []
    for kept, x, lab, cand in parts:
        pad = width - x.shape[1]
        xs.append(np.pad(x, ((0, 0), (0, pad), (0, 0)), constant_values=np.nan))
        ls.append(np.pad(lab, ((0, 0), (0, pad)), constant_values=-1))
        cs.append(np.pad(cand, ((0, 0), (0, pad)), constant_values=-1))
        order.extend(kept)
    return OutcomeGroups(
        firms.iloc[order].reset_index(drop=True),
        np.concatenate(xs),
        np.concatenate(ls),
        np.concatenate(cs),
    )


def _profile_record(profile: Any) -> dict[str, Any]:
    """A stored profile (a dict, or its JSON text) as the record the batch columns read."""
    rec = json.loads(profile) if isinstance(profile, str) else dict(profile)
    return {k: rec.get(k) for k in S.INPUT_COLUMNS if k in rec}

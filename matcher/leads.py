"""Leads: which firms of a list (or of a whole registry's index) one park should approach.

A lead's score combines two things the officer needs to know (documented in docs/leads.md):

* **fit**: how the park compares with the firm's own first choice under the served ranker,
  ``min(1, exp(s_park - s_first))``.  The ranker is a LambdaRank model; read as a
  Plackett-Luce choice model its scores are log-odds, so this is the odds that the firm picks
  this park rather than its first choice (1 when the park *is* its first choice);
* **pressure**: how strongly Beijing's policy pushes the firm out (:mod:`features.pressure`).

``lead_score = (PRESSURE_FLOOR + (1 - PRESSURE_FLOOR) * pressure) * fit``, in [0, 1]: a firm
under no pressure can still move (the floor), a firm that would never choose the park is no
lead however much it is pushed.  The park's rank among the firm's own options (from
:func:`matcher.parkside.standing`, the order ``recommend`` shows) is reported with each lead and
enters the score through ``s_first``.

One code path: the list path (:func:`leads_for_batch`) and the index path
(:meth:`FirmIndex.leads`) score a firm with the same calls (:func:`park_scores` for the park,
:func:`own_best` for the firm's first choice, stored in the index when it is built), and words
each lead with the same :func:`describe`; the index only decides which firms are scored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import schemas as S
from features.pairs import CodeSets, FirmArrays, ParkArrays
from features.pressure import PARTS, RestrictionTable, relocation_pressure
from features.validation import FirmBatch
from matcher.bundle import write_bundle
from matcher.constraints import infeasibility
from matcher.core import Candidates, Matcher
from matcher.parkside import gap_sentence, park_position, standing
from matcher.retrieval import VectorIndex

PRESSURE_FLOOR = 0.2
LEAD_SCORE, PARK_SCORE, PARK_RANK, N_OPTIONS = S.LEAD_SCORE, S.PARK_SCORE, S.PARK_RANK, S.N_OPTIONS
PRESSURE, FIRST_PARK, FIRST_PARK_NAME = S.PRESSURE, S.FIRST_PARK, S.FIRST_PARK_NAME
FIRST_SCORE = "first_score"


def lead_score(park_score: np.ndarray, first_score: np.ndarray, pressure: np.ndarray) -> np.ndarray:
    """The documented combination (module docstring); -inf park scores (removed) give 0."""
    with np.errstate(over="ignore", invalid="ignore"):
        fit = np.exp(np.minimum(park_score - np.maximum(first_score, park_score), 0.0))
    fit = np.where(np.isfinite(park_score), fit, 0.0)
    return (PRESSURE_FLOOR + (1.0 - PRESSURE_FLOOR) * pressure) * fit


def own_best(matcher: Matcher, batch: FirmBatch) -> tuple[np.ndarray, np.ndarray]:
    """Each firm's first choice among its own options: (score, catalogue position); -inf and -1
    for a firm with no feasible park."""
    _, cands, x = matcher.features(batch)
    scores = matcher.score(x, cands.parks)
    if scores.shape[1] == 0:
        return np.full(len(batch), -np.inf), np.full(len(batch), -1)
    best = scores.argmax(axis=1)
    s = scores[np.arange(len(batch)), best]
    return s, np.where(np.isfinite(s), cands.parks[np.arange(len(batch)), best], -1)


def park_scores(matcher: Matcher, batch: FirmBatch, p: int, sim: np.ndarray | None = None) -> np.ndarray:
    """The ranker's score of park ``p`` for every firm, -inf where a hard rule removes it.
    ``sim`` is the firms' similarity to the park when the caller has it (a firm index search)."""
    firms = FirmArrays.build(batch, matcher.park_arrays)
    if sim is None:
        sim = matcher.firm_vectors(batch, firms) @ matcher.park_vectors_[p]
    infeasible = infeasibility(firms, _one_park(matcher, p))[:, 0]
    cand = np.where(infeasible == 0, p, -1)[:, None].astype(np.int64)
    x = matcher.candidate_features(
        batch, firms, Candidates(cand, np.asarray(sim, np.float32)[:, None], infeasible[:, None])
    )
    return matcher.score(x, cand)[:, 0]


def _one_park(matcher: Matcher, p: int) -> ParkArrays:
    """The catalogue arrays reduced to park ``p`` (the hard rules need only its values)."""
    pa_ = matcher.park_arrays
    one = replace(
        pa_,
        ids=pa_.ids[[p]],
        num={k: v[[p]] for k, v in pa_.num.items()},
        restricted=CodeSets(_rows3(pa_.restricted.exact, p), _rows3(pa_.restricted.prefix, p)),
    )
    return one


def _rows3(m: tuple[np.ndarray, np.ndarray, np.ndarray], p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return m[0][[p]], m[1][[p]], m[2][[p]]


@dataclass
class Scored:
    """Firms scored for one park: the inputs of :func:`describe`."""

    batch: FirmBatch
    park_score: np.ndarray
    first_score: np.ndarray
    first_park: np.ndarray
    pressure: np.ndarray
    parts: dict[str, np.ndarray]

    @property
    def lead(self) -> np.ndarray:
        return lead_score(self.park_score, self.first_score, self.pressure)

    def top(self, n: int) -> np.ndarray:
        """Positions of the ``n`` best leads, best first (ties by the park's score, then input
        row); firms a hard rule keeps out of the park never."""
        lead = self.lead
        ok = np.flatnonzero(np.isfinite(self.park_score))
        order = np.lexsort((self.batch.rows[ok], -self.park_score[ok], -lead[ok]))
        return ok[order[:n]]


def score_batch(matcher: Matcher, batch: FirmBatch, p: int, table: RestrictionTable | None = None) -> Scored:
    first, first_park = own_best(matcher, batch)
    pressure = relocation_pressure(batch.cols, batch.imputed, table)
    return Scored(batch, park_scores(matcher, batch, p), first, first_park, pressure.score, pressure.parts)


def describe(
    matcher: Matcher, scored: Scored, picks: np.ndarray, p: int, table: RestrictionTable | None = None
) -> list[dict[str, Any]]:
    """One lead per picked firm: scores, rank among the firm's options, pressure parts, reasons."""
    if not len(picks):
        return []
    sub = scored.batch.take(picks)
    st = standing(matcher, sub, [p])
    texts = relocation_pressure(sub.cols, sub.imputed, table, texts=True).texts
    names = matcher.park_arrays.text[S.PARK_NAME]
    groups = matcher.ranker.contrib_groups_
    lead = scored.lead
    # one ranker call for every lead's contributions, ours and its first choice's
    rows = np.arange(len(picks))
    ours_col = np.maximum(st.col[:, 0], 0)
    first_col = st.order[:, 0]
    contrib = matcher.ranker.contributions(np.concatenate([st.x[rows, ours_col], st.x[rows, first_col]]))
    ours, theirs = contrib[: len(rows)], contrib[len(rows) :]
    written = matcher.reason_writer.write(ours, st.cands.parks[rows, ours_col], rows, sub.cols)
    out: list[dict[str, Any]] = []
    for i, f in enumerate(picks):
        c = int(st.col[i, 0])
        rank = int(st.rank[i, 0])
        first = st.at(i, 1)
        fp = st.park(i, first) if first >= 0 else -1
        reasons = list(written[i]) if c >= 0 else []
        if rank == 1:
            reasons.append(f"该企业的首选就是本园区（共{int(st.n_options[i])}个可选园区）")
        elif fp >= 0 and c >= 0:
            where = gap_sentence(ours[i], theirs[i], groups)
            gap = f"，差距主要在{where}" if where else ""
            reasons.append(f"该企业的首选是{names[fp]}，本园区排第{rank}{gap}")
        reasons.append("疏解压力：" + "；".join(texts[i][q] for q in PARTS))
        out.append(
            {
                S.ROW: int(sub.rows[i]),
                S.FIRM_ID: str(sub.cols[S.FIRM_ID][i]) or None,
                S.FIRM_NAME: str(sub.cols[S.NAME][i]),
                LEAD_SCORE: round(float(lead[f]), 6),
                PARK_SCORE: round(float(scored.park_score[f]), 6),
                PARK_RANK: rank or None,
                N_OPTIONS: int(st.n_options[i]),
                PRESSURE: round(float(scored.pressure[f]), 4),
                "pressure_parts": {
                    q: {
                        "value": _rounded(scored.parts[q][f]),
                        "text": texts[i][q],
                    }
                    for q in PARTS
                },
                FIRST_PARK: str(matcher.park_arrays.ids[fp]) if fp >= 0 else None,
                FIRST_PARK_NAME: names[fp] if fp >= 0 else None,
                S.REASONS: reasons,
                **{c_: str(_col(sub, c_)[i]) for c_ in S.PASSTHROUGH_COLUMNS},
            }
        )
    return out


def _rounded(v: float) -> float | None:
    return None if np.isnan(v) else round(float(v), 4)


def _col(batch: FirmBatch, name: str) -> np.ndarray:
    col = batch.cols.get(name)
    return col if col is not None else np.full(len(batch), "", dtype=object)


def leads_for_batch(
    matcher: Matcher, batch: FirmBatch, park_id: str, top: int, table: RestrictionTable | None = None
) -> list[dict[str, Any]]:
    """The list path: every firm of the batch scored for the park, the best ``top`` described."""
    p = park_position(matcher, park_id)
    scored = score_batch(matcher, batch, p, table)
    return describe(matcher, scored, scored.top(top), p, table)


def leads_result(
    matcher: Matcher, park_id: str, leads: list[dict[str, Any]], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The response shape shared by the API, the CLI's JSON and the files."""
    p = park_position(matcher, park_id)
    return {
        "park_id": park_id,
        "park_name": matcher.park_arrays.text[S.PARK_NAME][p],
        S.MODEL_VERSION: matcher.model_version,
        "leads": leads,
        "errors": errors,
    }


def leads_frame(leads: list[dict[str, Any]]) -> pd.DataFrame:
    """Leads flattened for files (:data:`features.schemas.LEAD_COLUMNS`): one column per
    pressure part, reasons joined with ；."""
    rows = []
    for lead in leads:
        row = {c: lead.get(c) for c in S.LEAD_COLUMNS}
        row[S.REASONS] = "；".join(lead[S.REASONS])
        for q, c in zip(PARTS, S.PRESSURE_PART_COLUMNS, strict=True):
            row[c] = lead["pressure_parts"][q]["value"]
        rows.append(row)
    return pd.DataFrame.from_records(rows, columns=list(S.LEAD_COLUMNS))


# --- the firm index -------------------------------------------------------------------------

FIRM_INDEX_FILE = "firms.faiss"
FIRM_INDEX_PARAMS = "firms.index.json"
FIRM_TABLE = "firms.parquet"
INDEX_MANIFEST = "firm_index.json"
SEARCH_K = 20_000


def _table_from_batch(batch: FirmBatch, extra: dict[str, np.ndarray]) -> pa.Table:
    data: dict[str, Any] = {S.ROW: pa.array(batch.rows, pa.int64())}
    for name in (*S.FIRM_COLUMNS, *S.PASSTHROUGH_COLUMNS):
        col = batch.cols.get(name)
        if col is None:
            continue
        if name in S.FIRM_LIST_COLUMNS:
            data[name] = pa.array([list(v) for v in col], pa.list_(pa.string()))
        elif col.dtype == object:
            data[name] = pa.array(["" if v is None else str(v) for v in col], pa.string())
        else:
            data[name] = pa.array(col)
    # joined text, not a list column: splitting it back is several times faster for 20,000 rows
    data[S.IMPUTED] = pa.array([";".join(v) for v in batch.imputed], pa.string())
    for k, v in extra.items():
        data[k] = pa.array(v)
    return pa.table(data)


def _batch_from_table(t: pa.Table) -> FirmBatch:
    cols: dict[str, np.ndarray] = {}
    for name in (*S.FIRM_COLUMNS, *S.PASSTHROUGH_COLUMNS):
        if name not in t.column_names:
            continue
        c = t.column(name)
        if name in S.FIRM_LIST_COLUMNS or pa.types.is_string(c.type):
            arr = np.empty(len(c), dtype=object)
            arr[:] = c.to_pylist()
            cols[name] = arr
        else:
            cols[name] = c.to_numpy()
    imputed = [v.split(";") if v else [] for v in t.column(S.IMPUTED).to_pylist()]
    return FirmBatch(t.column(S.ROW).to_numpy(), cols, imputed, [[] for _ in imputed])


class FirmIndex:
    """A registry's firms, prepared once: their vectors in FAISS (IVF or HNSW, a setting),
    their validated and imputed profiles, pressure and first choice in Parquet, and a manifest
    with checksums.  ``leads`` then scores only the firms nearest the park's vector."""

    def __init__(
        self,
        index_type: str = "ivf",
        nlist: int = 1024,
        nprobe: int = 256,
        hnsw_m: int = 32,
        ef_search: int = 2048,
        search_k: int = SEARCH_K,
    ):
        self.index_type = index_type
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.search_k = search_k

    def fit(
        self, matcher: Matcher, batch: FirmBatch, table: RestrictionTable | None = None, chunk: int = 20_000
    ) -> FirmIndex:
        """Embed, score and record every firm of ``batch`` (in chunks, to keep memory flat)."""
        vectors, parts = [], []
        for start in range(0, len(batch), chunk):
            sub = batch.take(np.arange(start, min(start + chunk, len(batch))))
            vectors.append(matcher.firm_vectors(sub, FirmArrays.build(sub, matcher.park_arrays)))
            first, first_park = own_best(matcher, sub)
            pressure = relocation_pressure(sub.cols, sub.imputed, table)
            extra = {FIRST_SCORE: first, "first_park": first_park, PRESSURE: pressure.score}
            extra.update({S.PRESSURE_PART_COLUMNS[PARTS.index(q)]: pressure.parts[q] for q in PARTS})
            parts.append(_table_from_batch(sub, extra))
        x = np.concatenate(vectors) if vectors else np.zeros((0, 1), np.float32)
        self.vectors_ = VectorIndex(
            index_type=self.index_type,
            nlist=self.nlist,
            nprobe=self.nprobe,
            hnsw_m=self.hnsw_m,
            ef_search=self.ef_search,
        ).fit(x)
        self.table_ = pa.concat_tables(parts)
        self.model_version_ = matcher.model_version
        self._direct_map()
        self.refresh()
        return self

    def _direct_map(self) -> None:
        """IVF keeps no id → vector map unless asked; the firms added by first choice need it."""
        inner = self.vectors_.index_
        if hasattr(inner, "make_direct_map"):
            inner.make_direct_map()

    def refresh(self) -> None:
        """Re-read the per-firm arrays from ``table_`` (after it is built, loaded or replaced)."""
        t = self.table_
        self.first_score_ = t.column(FIRST_SCORE).to_numpy()
        self.pressure_ = t.column(PRESSURE).to_numpy()
        self.first_park_ = t.column("first_park").to_numpy()
        self.parts_ = {q: t.column(S.PRESSURE_PART_COLUMNS[PARTS.index(q)]).to_numpy() for q in PARTS}

    def __len__(self) -> int:
        return int(self.table_.num_rows)

    def save(self, directory: Path) -> Path:
        def write(tmp: Path) -> list[Path]:
            files = self.vectors_.save(tmp, FIRM_INDEX_FILE, FIRM_INDEX_PARAMS)
            pq.write_table(self.table_, tmp / FIRM_TABLE)
            params = {k: v for k, v in vars(self).items() if not k.endswith("_")}
            (tmp / INDEX_MANIFEST).write_text(json.dumps(params), encoding="utf-8")
            return [*files, tmp / FIRM_TABLE, tmp / INDEX_MANIFEST]

        manifest = {
            "kind": "firm_index",
            "model_version": self.model_version_,
            "n_firms": len(self),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return write_bundle(Path(directory), write, manifest, required=frozenset())

    @classmethod
    def load(cls, directory: Path) -> FirmIndex:
        from matcher.bundle import check_files

        directory = Path(directory)
        manifest = check_files(directory)
        if manifest.get("kind") != "firm_index":
            raise ValueError(f"{directory} is not a firm index (build one with `parkmatch index-firms`)")
        self = cls(**json.loads((directory / INDEX_MANIFEST).read_text(encoding="utf-8")))
        self.vectors_ = VectorIndex.load(directory, FIRM_INDEX_FILE, FIRM_INDEX_PARAMS)
        self._direct_map()
        self.table_ = pq.read_table(directory / FIRM_TABLE)
        self.model_version_ = str(manifest.get("model_version", ""))
        self.refresh()
        return self

    def search(self, matcher: Matcher, p: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(firm positions, similarity) of the ``k`` firms nearest the park's vector."""
        q = matcher.park_vectors_[[p]]
        sim, ids = self.vectors_.search(q, min(k, len(self)))
        ok = ids[0] >= 0
        return ids[0][ok], sim[0][ok]

    def scored(self, matcher: Matcher, p: int, k: int | None = None) -> Scored:
        """The nearest ``k`` firms (``search_k`` by default; all of them when ``k >= len``)
        scored for park ``p`` exactly as the list path scores them."""
        k = self.search_k if k is None else k
        if k >= len(self):
            ids = np.arange(len(self))
            batch = _batch_from_table(self.table_)
            score = park_scores(matcher, batch, p)
        else:
            # the nearest firms by vector, plus every firm whose own first choice is the park
            # (their fit is 1 whatever their similarity)
            near, near_sim = self.search(matcher, p, k)
            extra = np.setdiff1d(np.flatnonzero(self.first_park_ == p), near)
            ids = np.concatenate([near, extra])
            batch = _batch_from_table(self.table_.take(pa.array(ids)))
            sim = np.concatenate([near_sim, np.zeros(len(extra), np.float32)])
            if len(extra):
                stored = self.vectors_.index_.reconstruct_batch(extra.astype(np.int64))
                sim[len(near) :] = stored @ matcher.park_vectors_[p]
            score = park_scores(matcher, batch, p, sim)
        return Scored(
            batch,
            score,
            self.first_score_[ids],
            self.first_park_[ids],
            self.pressure_[ids],
            {q: v[ids] for q, v in self.parts_.items()},
        )

    def leads(
        self,
        matcher: Matcher,
        park_id: str,
        top: int,
        table: RestrictionTable | None = None,
        k: int | None = None,
    ) -> list[dict[str, Any]]:
        p = park_position(matcher, park_id)
        scored = self.scored(matcher, p, k)
        return describe(matcher, scored, scored.top(top), p, table)

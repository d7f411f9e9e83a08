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
:func:`own_options` for the firm's own best options, stored in the index when it is built),
and words each lead with the same :func:`describe`; the index only decides which firms are
scored.
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
    """Each firm's first choice among its own options (the retrieved candidates, as
    ``recommend`` ranks them): (score, catalogue position); -inf and -1 for a firm with no
    feasible park."""
    _, cands, x = matcher.features(batch)
    scores = matcher.score(x, cands.parks)
    return _first(scores, cands.parks)


def _first(scores: np.ndarray, parks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(scores)
    if scores.shape[1] == 0:
        return np.full(n, -np.inf), np.full(n, -1)
    best = scores.argmax(axis=1)
    s = scores[np.arange(n), best]
    return s, np.where(np.isfinite(s), parks[np.arange(n), best], -1)


OPTIONS_CHUNK = 2_000  # firms per pass over the whole catalogue (pair features of ~300 parks each)


def all_options(
    matcher: Matcher, batch: FirmBatch, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a firm index stores per firm: (first-choice score, first-choice position) as
    :func:`own_best` gives them, and the ``k`` best parks of the **whole catalogue** for the
    firm with their scores, best first (-1 and -inf padding).

    Every feasible park is scored, not only the retrieved candidates, so for any park ``p``
    that is not among a firm's ``k`` the firm's score for ``p`` is at most its ``k``-th score:
    the bound :meth:`FirmIndex.park_scores` prunes with.  A pair's score does not depend on the
    other parks scored beside it, so these are the scores :func:`park_scores` gives."""
    n, n_parks = len(batch), len(matcher.park_arrays)
    first = np.full(n, -np.inf)
    first_park = np.full(n, -1, dtype=np.int64)
    parks = np.full((n, k), -1, dtype=np.int32)
    best = np.full((n, k), -np.inf, dtype=np.float64)
    width = min(k, n_parks)
    for start in range(0, n, OPTIONS_CHUNK):
        rows = np.arange(start, min(start + OPTIONS_CHUNK, n))
        sub = batch.take(rows)
        firms = FirmArrays.build(sub, matcher.park_arrays)
        vectors = matcher.firm_vectors(sub, firms)
        own = matcher.retrieve(firms, vectors)
        every = matcher.retrieve(firms, vectors, n_parks)
        scores = matcher.score(matcher.candidate_features(sub, firms, every), every.parks)
        dense = np.full((len(rows), n_parks), -np.inf)
        r, c = np.nonzero(every.parks >= 0)
        dense[r, every.parks[r, c]] = scores[r, c]
        own_scores = np.where(
            own.parks >= 0, np.take_along_axis(dense, np.maximum(own.parks, 0), axis=1), -np.inf
        )
        first[rows], first_park[rows] = _first(own_scores, own.parks)
        order = np.argsort(-dense, axis=1, kind="stable")[:, :width]
        top = np.take_along_axis(dense, order, axis=1)
        best[rows, :width] = top
        parks[rows, :width] = np.where(np.isfinite(top), order, -1)
    return first, first_park, parks, best


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
        return best_leads(self.lead, self.park_score, self.batch.rows, n)


def best_leads(lead: np.ndarray, park_score: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best leads, best first (ties by the park's score, then input
    row); firms a hard rule keeps out of the park never."""
    ok = np.flatnonzero(np.isfinite(park_score))
    order = np.lexsort((rows[ok], -park_score[ok], -lead[ok]))
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
SEARCH_K = 0  # measured: the bound-ordered completion alone is faster (docs/leads.md)
OPTIONS_KEPT = 16
SCORE_CHUNK = 20_000
INDEX_FORMAT = 2  # 2: each firm's kept options are stored
OPTION_PARKS, OPTION_SCORES = "option_parks", "option_scores"


def _table_from_batch(batch: FirmBatch, extra: dict[str, Any]) -> pa.Table:
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
        data[k] = v if isinstance(v, pa.Array) else pa.array(v)
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
    their validated and imputed profiles, pressure, first choice and their ``options_kept``
    best parks of the whole catalogue (park and score) in Parquet, and a manifest with
    checksums.

    ``leads`` returns what scoring every firm would, while scoring few of them
    (:meth:`park_scores`):

    1. a firm that has the park among its kept options already has its exact score;
    2. the ``search_k`` firms nearest the park's vector are scored: they raise the ``top``-th
       lead early, so step 3 stops sooner (0 skips it);
    3. every other firm scores the park at most as its worst kept option ``s_last`` (the kept
       options are the best of the whole catalogue), so its lead is at most
       ``weight * exp(min(s_last - s_first, 0))``: firms are scored in order of that bound until
       it falls below the ``top``-th lead found.  The bound holds for every firm, so the result
       is exact.
    """

    def __init__(
        self,
        index_type: str = "ivf",
        nlist: int = 1024,
        nprobe: int = 256,
        hnsw_m: int = 32,
        ef_search: int = 2048,
        search_k: int = SEARCH_K,
        options_kept: int = OPTIONS_KEPT,
    ):
        self.index_type = index_type
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.search_k = search_k
        self.options_kept = options_kept

    def fit(
        self, matcher: Matcher, batch: FirmBatch, table: RestrictionTable | None = None, chunk: int = 20_000
    ) -> FirmIndex:
        """Embed, score and record every firm of ``batch`` (in chunks, to keep memory flat)."""
        vectors, parts = [], []
        for start in range(0, len(batch), chunk):
            sub = batch.take(np.arange(start, min(start + chunk, len(batch))))
            vectors.append(matcher.firm_vectors(sub, FirmArrays.build(sub, matcher.park_arrays)))
            first, first_park, opt_parks, opt_scores = all_options(matcher, sub, self.options_kept)
            pressure = relocation_pressure(sub.cols, sub.imputed, table)
            extra: dict[str, Any] = {
                FIRST_SCORE: first,
                "first_park": first_park,
                PRESSURE: pressure.score,
                OPTION_PARKS: _fixed_lists(opt_parks),
                OPTION_SCORES: _fixed_lists(opt_scores),
            }
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
        self.rows_ = t.column(S.ROW).to_numpy()
        self.first_score_ = t.column(FIRST_SCORE).to_numpy()
        self.pressure_ = t.column(PRESSURE).to_numpy()
        self.first_park_ = t.column("first_park").to_numpy()
        self.parts_ = {q: t.column(S.PRESSURE_PART_COLUMNS[PARTS.index(q)]).to_numpy() for q in PARTS}
        self.option_parks_ = _matrix(t.column(OPTION_PARKS), self.options_kept)
        self.option_scores_ = _matrix(t.column(OPTION_SCORES), self.options_kept)
        # -inf when a firm has fewer feasible parks than are kept: every other park is removed
        self.last_score_ = self.option_scores_.min(axis=1) if len(t) else np.zeros(0)

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
            "format": INDEX_FORMAT,
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
        if manifest.get("format") != INDEX_FORMAT:
            raise ValueError(
                f"{directory}: 企业索引格式已过期，请用 `parkmatch index-firms` 重建 "
                f"(firm index format {manifest.get('format')!r}, this version reads {INDEX_FORMAT!r})"
            )
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

    def _score(self, matcher: Matcher, p: int, ids: np.ndarray, out: np.ndarray) -> None:
        """Score firms ``ids`` for park ``p`` exactly as the list path does, into ``out``."""
        for start in range(0, len(ids), SCORE_CHUNK):
            part = ids[start : start + SCORE_CHUNK]
            batch = _batch_from_table(self.table_.take(pa.array(part)))
            stored = self.vectors_.index_.reconstruct_batch(part.astype(np.int64))
            out[part] = park_scores(matcher, batch, p, stored @ matcher.park_vectors_[p])

    def park_scores(
        self, matcher: Matcher, p: int, top: int, exhaustive: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(firm positions, their exact scores for park ``p``): every firm that can be among the
        ``top`` leads, by the class's three steps; every firm when ``exhaustive``."""
        n = len(self)
        score = np.full(n, np.nan)
        if exhaustive or n == 0:
            self._score(matcher, p, np.arange(n), score)
            return np.arange(n), score
        hit_rows, hit_cols = np.nonzero(self.option_parks_ == p)
        score[hit_rows] = self.option_scores_[hit_rows, hit_cols]
        if self.search_k > 0:
            near, _ = self.search(matcher, p, min(self.search_k, n))
            self._score(matcher, p, near[np.isnan(score[near])], score)
        weight = PRESSURE_FLOOR + (1.0 - PRESSURE_FLOOR) * self.pressure_
        with np.errstate(invalid="ignore", over="ignore"):
            bound = weight * np.exp(np.minimum(self.last_score_ - self.first_score_, 0.0))
        bound = np.where(np.isfinite(self.first_score_), np.nan_to_num(bound, nan=0.0), 0.0)
        rest = np.flatnonzero(np.isnan(score))
        rest = rest[np.argsort(-bound[rest], kind="stable")]
        while len(rest):
            done = np.flatnonzero(~np.isnan(score))
            leads = lead_score(score[done], self.first_score_[done], self.pressure_[done])
            floor = np.partition(leads, len(leads) - top)[len(leads) - top] if len(leads) >= top else 0.0
            chunk = rest[:SCORE_CHUNK]
            # bound 0: the park is removed for the firm; otherwise a tie with the floor may still enter
            take = chunk[(bound[chunk] >= floor) & (bound[chunk] > 0)]
            if not len(take):
                break
            self._score(matcher, p, take, score)
            rest = rest[len(take) :]
        ids = np.flatnonzero(~np.isnan(score))
        return ids, score[ids]

    def leads(
        self,
        matcher: Matcher,
        park_id: str,
        top: int,
        table: RestrictionTable | None = None,
        exhaustive: bool = False,
    ) -> list[dict[str, Any]]:
        p = park_position(matcher, park_id)
        ids, score = self.park_scores(matcher, p, top, exhaustive)
        lead = lead_score(score, self.first_score_[ids], self.pressure_[ids])
        picks = ids[best_leads(lead, score, self.rows_[ids], top)]
        scored = Scored(
            _batch_from_table(self.table_.take(pa.array(picks))),
            score[np.searchsorted(ids, picks)],  # ids are sorted
            self.first_score_[picks],
            self.first_park_[picks],
            self.pressure_[picks],
            {q: v[picks] for q, v in self.parts_.items()},
        )
        return describe(matcher, scored, np.arange(len(picks)), p, table)


def _fixed_lists(values: np.ndarray) -> pa.FixedSizeListArray:
    """An (n, k) array as a Parquet-ready column of k-long lists."""
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])


def _matrix(column: pa.ChunkedArray, k: int) -> np.ndarray:
    flat = column.combine_chunks().flatten() if len(column) else pa.array([], column.type.value_type)
    return flat.to_numpy().reshape(-1, k)

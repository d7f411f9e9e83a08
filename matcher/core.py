"""The matcher: validated firms in, ranked and explained parks out.

One code path serves the API, the CLI, batch files and evaluation: every entry point builds a
:class:`~features.validation.FirmBatch` (a single recommendation is a batch of one) and calls
:meth:`Matcher.match`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import schemas as S
from features.embeddings import IndustryInferer, ProfileEmbedder
from features.history import ArrivalHistory
from features.pairs import FEATURE_NAMES, FirmArrays, ParkArrays, criterion_scores, pair_features
from features.persist import init_params
from features.precedents import FILE as PRECEDENTS_FILE
from features.precedents import Precedents, county_key
from features.towers import PreferenceTower, firm_tower_features, park_tower_features
from features.validation import (
    FirmBatch,
    Priors,
    RowError,
    columns_from_frame,
    columns_from_records,
    imputed_values,
    imputed_values_text,
    prepare,
)
from matcher.bundle import (
    MANIFEST,
    PARKS_FILE,
    PRIORS_FILE,
    BundleError,
    read_catalogue,
    read_manifest,
    write_bundle,
)
from matcher.constraints import explain_rule, infeasibility
from matcher.explain import ReasonWriter
from matcher.nomatch import explain_no_match
from matcher.ranker import ParkRanker
from matcher.retrieval import VectorIndex


@dataclass
class Candidates:
    """Retrieval output: park positions (n, k) padded with -1, their similarity, and the
    infeasibility matrix (n, n_parks) that explains removals."""

    parks: np.ndarray
    sim: np.ndarray
    infeasible: np.ndarray


@dataclass
class MatchResult:
    """Recommendations in long form (one row per firm × rank), plus per-firm extras."""

    batch: FirmBatch
    firm_pos: np.ndarray
    rank: np.ndarray
    park_pos: np.ndarray
    score: np.ndarray
    criteria: np.ndarray
    reasons: list[list[str]]
    excluded: list[list[dict[str, str]]] = field(default_factory=list)
    no_match: dict[int, str] = field(default_factory=dict)  # firm position → why no park is feasible

    def __len__(self) -> int:
        return int(self.firm_pos.shape[0])

    def state(self, i: int) -> str:
        """What became of firm ``i``: matched, matched_with_warnings or no_feasible_park."""
        if i in self.no_match:
            return S.NO_FEASIBLE_PARK
        warned = bool(self.batch.warnings and self.batch.warnings[i])
        return S.MATCHED_WITH_WARNINGS if warned else S.MATCHED


# The first DIVERSE_SLOTS places hold one park per county: an officer's shortlist names five
# places to visit, and three parks of one county in the top five crowd out the alternatives.
DIVERSE_SLOTS = 5
DIVERSE_WINDOW = 30


def diversified_order(
    scores: np.ndarray, cand: np.ndarray, county: np.ndarray, slots: int = DIVERSE_SLOTS
) -> np.ndarray:
    """(n, k) column order: the best park of each county fills the first ``slots`` places (by
    score), then every other candidate follows in score order.

    ``county`` holds an integer county id per catalogue position.  Only the best
    :data:`DIVERSE_WINDOW` candidates are searched for distinct counties; padding stays last."""
    n, k = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    if n == 0 or slots <= 0:
        return order
    w = min(DIVERSE_WINDOW, k)
    top = order[:, :w]
    parks = np.take_along_axis(cand, top, axis=1)
    finite = np.isfinite(np.take_along_axis(scores, top, axis=1)) & (parks >= 0)
    c = np.where(finite, county[np.where(parks < 0, 0, parks)], -1 - np.arange(w)[None, :])
    earlier = np.tril(np.ones((w, w), dtype=bool), -1)
    first_of_county = ~((c[:, :, None] == c[:, None, :]) & earlier[None, :, :]).any(axis=2) & finite
    lead = first_of_county & (np.cumsum(first_of_county, axis=1) <= slots)
    key = np.concatenate([np.where(lead, 0, 1), np.ones((n, k - w), dtype=np.int64)], axis=1)
    return np.take_along_axis(order, np.argsort(key, axis=1, kind="stable"), axis=1)


class Matcher:
    """Retrieval (FAISS) → hard constraints → pair features → LightGBM → explanations."""

    def __init__(
        self,
        embedder: ProfileEmbedder,
        index: VectorIndex,
        ranker: ParkRanker,
        inferer: IndustryInferer,
        parks: pd.DataFrame,
        priors: pd.DataFrame,
        manifest: dict[str, Any] | None = None,
        candidates: int = 60,
        tower: PreferenceTower | None = None,
        history: ArrivalHistory | None = None,
        precedents: Precedents | None = None,
    ):
        self.embedder = embedder
        self.index = index
        self.ranker = ranker
        self.inferer = inferer
        self.parks = parks.reset_index(drop=True)
        self.priors_frame = priors
        self.priors = Priors.from_frame(priors)
        self.manifest = manifest or {}
        self.candidates = candidates
        self.tower = tower
        self.history = history
        self.precedents = precedents
        self.park_arrays = ParkArrays.build(self.parks)
        _, self.county_ids = np.unique(
            self.parks[S.ADCODE].astype(str).map(county_key).to_numpy(), return_inverse=True
        )
        self._reasons: ReasonWriter | None = None
        self._park_vectors: np.ndarray | None = None

    def reset_reasons(self) -> None:
        """Forget the cached reason writer (its sentences quote the precedents)."""
        self._reasons = None

    @property
    def reason_writer(self) -> ReasonWriter:
        """Built on first use: during training the ranker is fitted after the matcher exists."""
        if self._reasons is None or self._reasons.groups != self.ranker.contrib_groups_:
            self._reasons = ReasonWriter(
                self.park_arrays, self.ranker.contrib_groups_, precedents=self.precedents
            )
        return self._reasons

    @property
    def decision_year(self) -> int:
        """The year a recommendation is made for: the year after the last recorded move.  Policy
        regimes (Xiong'an, the sub-centre) changed over the history; the ranker knows the year of
        every training move and serves the latest regime."""
        if self.history is not None and len(self.history.years_):
            return int(self.history.years_[-1]) + 1
        return int(self.manifest.get("decision_year", 2025))

    @property
    def model_version(self) -> str:
        return str(self.manifest.get("model_version", "unversioned"))

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: Path, manifest: dict[str, Any]) -> Path:
        def write(tmp: Path) -> list[Path]:
            files = [*self.embedder.save(tmp), *self.ranker.save(tmp), *self.inferer.save(tmp)]
            if self.tower is not None:
                files.extend(self.tower.save(tmp))
            if self.history is not None:
                files.extend(self.history.save(tmp))
            if self.precedents is not None:
                files.extend(self.precedents.save(tmp))
            files.extend(self.index.save(tmp))
            self.parks.to_parquet(tmp / PARKS_FILE, index=False)
            self.priors_frame.reset_index().to_parquet(tmp / PRIORS_FILE, index=False)
            return [*files, tmp / PARKS_FILE, tmp / PRIORS_FILE]

        manifest = {**manifest, "feature_names": list(FEATURE_NAMES), "n_parks": len(self.parks)}
        self.manifest = manifest
        out = write_bundle(Path(path), write, manifest)
        self.manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return out

    @classmethod
    def load(cls, path: Path, candidates: int | None = None) -> Matcher:
        """Load a bundle, refusing it whole if any check fails (see :mod:`matcher.bundle`)."""
        path = Path(path)
        manifest = read_manifest(path, FEATURE_NAMES)
        try:
            parks = read_catalogue(path)
            priors = pd.read_parquet(path / PRIORS_FILE).set_index("division")
            ranker = ParkRanker.load(path)
            if ranker.feature_names != FEATURE_NAMES:
                raise BundleError(f"model bundle {path}: the ranker's feature names differ from this code's")
            return cls(
                embedder=ProfileEmbedder.load(path),
                index=VectorIndex.load(path),
                ranker=ranker,
                inferer=IndustryInferer.load(path),
                parks=parks,
                priors=priors,
                manifest=manifest,
                candidates=candidates or int(manifest.get("candidates", 60)),
                tower=PreferenceTower.load(path) if (path / "tower.json").exists() else None,
                history=ArrivalHistory.load(path) if (path / "history.json").exists() else None,
                precedents=Precedents.load(path) if (path / PRECEDENTS_FILE).exists() else None,
            )
        except BundleError:
            raise
        except Exception as exc:  # a corrupt file inside a bundle whose checksums were forged or stale
            raise BundleError(f"model bundle {path} cannot be read: {type(exc).__name__}: {exc}") from exc

    # --- pipeline -------------------------------------------------------------------------

    def prepare(
        self, cols: Mapping[str, Any], rows: Sequence[int] | np.ndarray | None = None
    ) -> tuple[FirmBatch, list[RowError]]:
        return prepare(cols, self.priors, self.inferer, rows)

    def profile_vectors(self, batch: FirmBatch) -> np.ndarray:
        """The firm's profile embedding alone (text and industry), L2-normalised."""
        c = batch.cols
        return self.embedder.embed_firms(
            list(c[S.DESCRIPTION]), list(c[S.INDUSTRY_CODE]), list(c[S.CHAIN_PARTNER_CODES])
        )

    def firm_vectors(self, batch: FirmBatch, firms: FirmArrays) -> np.ndarray:
        """Query vectors in the FAISS space: the profile embedding, joined with the preference
        tower's firm block when the bundle has one (see :mod:`features.towers`)."""
        base = self.profile_vectors(batch)
        if self.tower is None:
            return base
        return np.hstack(
            [self.tower.alpha_ * base, self.tower.firm_block(firm_tower_features(firms))]
        ).astype(np.float32)

    def park_vectors(self) -> np.ndarray:
        """What the FAISS index holds, in the same layout as :meth:`firm_vectors`."""
        base = self.embedder.embed_parks(self.parks)
        if self.tower is None:
            return base
        return np.hstack([base, self.tower.park_block(park_tower_features(self.park_arrays))]).astype(
            np.float32
        )

    # Parks added to the FAISS candidates because policy or precedent points there (see retrieve).
    POLICY_CANDIDATES = 30
    PRECEDENT_SHARE = 0.02

    def policy_parks(self, firms: FirmArrays) -> np.ndarray:
        """(n, P) bool: parks designated for what the firm moves, or in a county that took at
        least :data:`PRECEDENT_SHARE` of the documented cases with the same function.

        Embedding similarity knows industries, not policy: an SOE headquarters is textually far
        from 雄安's catalogue entry, yet every documented SOE move went there.  These parks are
        always scored, whatever their similarity."""
        pa = self.park_arrays
        out = (pa.num["designated"][None, :] & firms.fn_mask[:, None]) != 0
        if self.precedents is not None:
            for mask in np.unique(firms.fn_mask):
                rows = firms.fn_mask == mask
                share = self.precedents.features(
                    np.array([mask]), np.array([-1]), np.arange(len(pa))[None, :]
                )[0, :, 0]
                out[rows] |= (share >= self.PRECEDENT_SHARE)[None, :]
        return out

    def retrieve(self, firms: FirmArrays, vectors: np.ndarray, k: int | None = None) -> Candidates:
        """FAISS top candidates that pass the hard constraints, best similarity first, followed
        by up to :data:`POLICY_CANDIDATES` feasible policy parks (:meth:`policy_parks`) that
        FAISS did not return."""
        k = k or self.candidates
        pa = self.park_arrays
        infeasible = infeasibility(firms, pa)
        n_parks = len(pa)
        k_search = n_parks if n_parks <= 4096 else min(n_parks, 4 * k)
        sim, ids = self.index.search(vectors, k_search)
        safe = np.where(ids < 0, 0, ids)
        ok = (ids >= 0) & (np.take_along_axis(infeasible, safe, axis=1) == 0)
        keep = ok & (np.cumsum(ok, axis=1) <= k)
        policy = np.take_along_axis(self.policy_parks(firms), safe, axis=1) & ok & ~keep
        extra = policy & (np.cumsum(policy, axis=1) <= self.POLICY_CANDIDATES)
        chosen = keep | extra
        width = k + self.POLICY_CANDIDATES
        # FAISS picks first (in similarity order), then the policy parks (in similarity order)
        rank_key = np.where(keep, 0, np.where(extra, 1, 2))
        order = np.argsort(rank_key, axis=1, kind="stable")[:, :width]
        parks = np.take_along_axis(ids, order, axis=1)
        sims = np.take_along_axis(sim, order, axis=1)
        valid = np.take_along_axis(chosen, order, axis=1)
        parks = np.where(valid, parks, -1)
        if parks.shape[1] < width:
            pad = width - parks.shape[1]
            parks = np.pad(parks, ((0, 0), (0, pad)), constant_values=-1)
            sims = np.pad(sims, ((0, 0), (0, pad)))
        return Candidates(parks.astype(np.int64), sims.astype(np.float32), infeasible)

    def features(
        self,
        batch: FirmBatch,
        k: int | None = None,
        years: np.ndarray | None = None,
        exclude_groups: list[str] | None = None,
    ) -> tuple[FirmArrays, Candidates, np.ndarray]:
        """Candidates and their pair features.  ``years`` (training only) limits the arrival
        history to moves before each firm's own year; serving uses the whole history.
        ``exclude_groups`` (training and cross-validation only) keeps each documented case's own
        relocation group out of its precedent features."""
        firms = FirmArrays.build(batch, self.park_arrays)
        cands = self.retrieve(firms, self.firm_vectors(batch, firms), k)
        return firms, cands, self.candidate_features(batch, firms, cands, years, exclude_groups)

    def candidate_features(
        self,
        batch: FirmBatch,
        firms: FirmArrays,
        cands: Candidates,
        years: np.ndarray | None = None,
        exclude_groups: list[str] | None = None,
    ) -> np.ndarray:
        """Pair features of given candidates: the second half of :meth:`features`, also used
        when a park the officer asks about is added to the retrieved ones (:meth:`with_parks`)."""
        hist = self.history.features(firms.division, cands.parks, years) if self.history is not None else None
        prec = (
            self.precedents.features(firms.fn_mask, firms.division, cands.parks, exclude_groups)
            if self.precedents is not None
            else None
        )
        if years is None:
            years = np.full(len(batch), self.decision_year)
        return pair_features(firms, self.park_arrays, cands.parks, cands.sim, hist, years, prec)

    def with_parks(
        self, batch: FirmBatch, parks: Sequence[int]
    ) -> tuple[FirmArrays, Candidates, np.ndarray, np.ndarray]:
        """:meth:`features` with the catalogue positions ``parks`` added to every firm's
        candidates, wherever retrieval ranked them: the park side asks about parks that FAISS
        may not have returned.  A park a hard rule removes for a firm is not added (its column
        is -1 there); the rule is in ``Candidates.infeasible``.  Also returns (n, len(parks))
        the column of each asked park in the candidates, -1 where it is removed."""
        firms = FirmArrays.build(batch, self.park_arrays)
        vectors = self.firm_vectors(batch, firms)
        cands = self.retrieve(firms, vectors, None)
        asked = np.asarray(parks, dtype=np.int64)
        n = len(batch)
        present = cands.parks[:, :, None] == asked[None, None, :]
        feasible = cands.infeasible[:, asked] == 0 if n else np.zeros((0, len(asked)), bool)
        add = feasible & ~present.any(axis=1)
        extra = np.where(add, asked[None, :], -1)
        sims = vectors @ self.park_vectors_[asked].T if len(asked) else np.zeros((n, 0), np.float32)
        grown = Candidates(
            np.concatenate([cands.parks, extra], axis=1),
            np.concatenate([cands.sim, np.where(add, sims, 0.0).astype(np.float32)], axis=1),
            cands.infeasible,
        )
        k = cands.parks.shape[1]
        col = np.where(
            present.any(axis=1), present.argmax(axis=1), np.where(add, k + np.arange(len(asked)), -1)
        )
        col = np.where(feasible, col, -1)
        return firms, grown, self.candidate_features(batch, firms, grown), col

    @property
    def park_vectors_(self) -> np.ndarray:
        """The catalogue's vectors in the FAISS space, computed once per matcher."""
        if self._park_vectors is None:
            self._park_vectors = self.park_vectors()
        return self._park_vectors

    def with_catalogue(self, parks: pd.DataFrame) -> Matcher:
        """The same trained stages over another catalogue (a what-if copy in which a park
        changes its offer), the FAISS index rebuilt over the new park vectors so that
        retrieval and similarity see the change as the real model would."""
        m = Matcher(
            self.embedder,
            self.index,
            self.ranker,
            self.inferer,
            parks,
            self.priors_frame,
            self.manifest,
            self.candidates,
            self.tower,
            self.history,
            self.precedents,
        )
        m.index = VectorIndex(**init_params(self.index)).fit(m.park_vectors_)
        return m

    def score(self, x: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """The ranker's score for every candidate, ``-inf`` for padding: the one scoring function
        that serving, batch, training's test figure and evaluation all call."""
        n, k, f = x.shape
        scores = self.ranker.predict(x.reshape(n * k, f)).reshape(n, k)
        return np.where(cand >= 0, scores, -np.inf)

    def order(self, scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """The order recommendations are shown in (see :func:`diversified_order`); evaluation on
        documented cases reads the same order."""
        return diversified_order(scores, cand, self.county_ids)

    def match(self, batch: FirmBatch, top: int = 10, explain_excluded: bool = False) -> MatchResult:
        """Rank parks for every firm in the batch and explain the top ``top``."""
        n = len(batch)
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return MatchResult(
                batch,
                empty,
                empty,
                empty,
                np.zeros(0),
                np.zeros((0, len(S.CRITERIA)), np.float32),
                [],
                [[] for _ in range(n)],
            )
        firms, cands, x = self.features(batch)
        scores = self.score(x, cands.parks)
        top = min(top, scores.shape[1])
        order = self.order(scores, cands.parks)[:, :top]
        top_scores = np.take_along_axis(scores, order, axis=1)
        valid = np.isfinite(top_scores)
        fi, ri = np.nonzero(valid)
        ci = order[fi, ri]
        xt = x[fi, ci]
        park_pos = cands.parks[fi, ci]
        contrib = self.ranker.contributions(xt)
        criteria = criterion_scores(xt)
        reasons = self.reason_writer.write(contrib, park_pos, fi, batch.cols)
        excluded: list[list[dict[str, str]]] = [[] for _ in range(n)]
        no_match: dict[int, str] = {}
        empty_firms = np.flatnonzero(~valid.any(axis=1))
        if len(empty_firms):
            sub = batch.take(empty_firms)
            texts = explain_no_match(
                FirmArrays.build(sub, self.park_arrays), self.park_arrays, cands.infeasible[empty_firms]
            )
            no_match = {int(i): t for i, t in zip(empty_firms, texts, strict=True)}
        if explain_excluded:
            names = self.park_arrays.frame[S.PARK_NAME]
            for i, p in zip(*np.nonzero(cands.infeasible), strict=True):
                rule, detail = explain_rule(
                    int(cands.infeasible[i, p]), firms, self.park_arrays, int(i), int(p)
                )
                excluded[i].append(
                    {
                        S.PARK_ID: str(self.park_arrays.ids[p]),
                        S.RESULT_PARK_NAME: str(names[p]),
                        "rule": rule,
                        "detail": detail,
                    }
                )
        return MatchResult(
            batch,
            fi.astype(np.int64),
            (ri + 1).astype(np.int64),
            park_pos,
            top_scores[fi, ri],
            criteria,
            reasons,
            excluded,
            no_match,
        )

    # --- entry points ---------------------------------------------------------------------

    def results(self, result: MatchResult) -> list[dict[str, Any]]:
        """Per-firm dictionaries in the shape of :class:`features.schemas.RecommendationResult`."""
        cols = self.park_arrays.text
        per_firm: list[list[dict[str, Any]]] = [[] for _ in range(len(result.batch))]
        for j in range(len(result)):
            p = int(result.park_pos[j])
            per_firm[int(result.firm_pos[j])].append(
                {
                    S.RANK: int(result.rank[j]),
                    S.PARK_ID: cols[S.PARK_ID][p],
                    S.RESULT_PARK_NAME: cols[S.PARK_NAME][p],
                    S.PROVINCE: cols[S.PROVINCE][p],
                    S.CITY: cols[S.CITY][p],
                    S.COUNTY: cols[S.COUNTY][p],
                    S.ADCODE: cols[S.ADCODE][p],
                    S.SCORE: round(float(result.score[j]), 6),
                    "criteria": {
                        k: (None if np.isnan(v) else round(float(v), 4))
                        for k, v in zip(S.CRITERIA, result.criteria[j], strict=True)
                    },
                    S.REASONS: result.reasons[j],
                }
            )
        ids = result.batch.cols[S.FIRM_ID]
        return [
            {
                S.FIRM_ID: (str(ids[i]) or None),
                S.MODEL_VERSION: self.model_version,
                S.IMPUTED: list(result.batch.imputed[i]),
                "recommendations": per_firm[i],
                "excluded": result.excluded[i] if result.excluded else [],
                S.STATE: result.state(i),
                S.IMPUTED_VALUES: imputed_values(result.batch, i),
                S.WARNINGS: list(result.batch.warnings[i]) if result.batch.warnings else [],
                "no_match": result.no_match.get(i),
            }
            for i in range(len(result.batch))
        ]

    def recommend_records(
        self, records: Iterable[Mapping[str, Any]], top: int = 10, explain_excluded: bool = False
    ) -> tuple[list[dict[str, Any]], list[RowError]]:
        """Batch of plain dictionaries → (results for the valid ones, errors for the others)."""
        recs = list(records)
        batch, errors = self.prepare(columns_from_records(recs))
        return self.results(self.match(batch, top, explain_excluded)), errors

    def recommend(
        self, profile: S.FirmProfile | Mapping[str, Any], top: int = 10, explain_excluded: bool = False
    ) -> S.RecommendationResult:
        """One firm: a batch of one, as the typed result the API serves.  Raises ``ValueError``
        naming the field if the profile is invalid."""
        record = profile.model_dump() if isinstance(profile, S.FirmProfile) else dict(profile)
        results, errors = self.recommend_records([record], top, explain_excluded)
        if errors:
            e = errors[0]
            raise ValueError(f"field '{e.field}': {e.reason}")
        return S.RecommendationResult.model_validate(results[0])

    def recommend_frame(self, df: pd.DataFrame, top: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A data scientist's entry: firms as a DataFrame → (long recommendations, rejected rows)."""
        batch, errors = self.prepare(columns_from_frame(df))
        return self.long_frame(self.match(batch, top)), pd.DataFrame(
            [e.as_dict() for e in errors], columns=list(S.REJECT_COLUMNS)
        )

    def long_frame(self, result: MatchResult) -> pd.DataFrame:
        frame = self.park_arrays.frame
        b = result.batch
        fp = result.firm_pos
        out = pd.DataFrame(
            {
                S.ROW: b.rows[fp],
                S.FIRM_ID: b.cols[S.FIRM_ID][fp],
                S.FIRM_NAME: b.cols[S.NAME][fp],
                **{c: _text_col(b, c)[fp] for c in S.PASSTHROUGH_COLUMNS},
                S.RANK: result.rank,
                S.PARK_ID: frame[S.PARK_ID].to_numpy()[result.park_pos],
                S.RESULT_PARK_NAME: frame[S.PARK_NAME].to_numpy()[result.park_pos],
                S.PROVINCE: frame[S.PROVINCE].to_numpy()[result.park_pos],
                S.CITY: frame[S.CITY].to_numpy()[result.park_pos],
                S.COUNTY: frame[S.COUNTY].to_numpy()[result.park_pos],
                S.SCORE: result.score.round(6),
            }
        )
        for j, name in enumerate(S.CRITERIA):
            # float64 before rounding: a rounded float32 widens to 0.921500027179718
            out[name] = result.criteria[:, j].astype(np.float64).round(4)
        out[S.REASONS] = ["；".join(r) for r in result.reasons]
        out[S.IMPUTED] = [";".join(b.imputed[i]) for i in fp]
        values = [imputed_values_text(b, i) for i in range(len(b))]
        warnings = ["；".join(b.warnings[i]) if b.warnings else "" for i in range(len(b))]
        out[S.IMPUTED_VALUES] = [values[i] for i in fp]
        out[S.WARNINGS] = [warnings[i] for i in fp]
        return out[list(S.RESULT_COLUMNS)]

    def firm_summary(self, result: MatchResult, errors: Sequence[RowError] = ()) -> pd.DataFrame:
        """One row per input row, whatever became of it (FIRM_SUMMARY_COLUMNS), sorted by row:
        the accounting that shows no firm was lost.  Rejected rows carry the field and reason,
        firms without a feasible park the binding rules and nearest relaxation as the reason."""
        b = result.batch
        names = self.park_arrays.frame[S.PARK_NAME].to_numpy()
        tops: list[list[str]] = [[] for _ in range(len(b))]
        for j in range(len(result)):
            f = int(result.firm_pos[j])
            if len(tops[f]) < 3:
                tops[f].append(str(names[int(result.park_pos[j])]))
        records: list[dict[str, Any]] = []
        for i in range(len(b)):
            state = result.state(i)
            records.append(
                {
                    S.ROW: int(b.rows[i]),
                    S.FIRM_ID: str(b.cols[S.FIRM_ID][i]),
                    S.FIRM_NAME: str(b.cols[S.NAME][i]),
                    **{c: str(_text_col(b, c)[i]) for c in S.PASSTHROUGH_COLUMNS},
                    S.STATE: state,
                    S.TOP_PARK: tops[i][0] if tops[i] else "",
                    S.TOP3: "；".join(tops[i]),
                    S.FIELD: "" if state != S.NO_FEASIBLE_PARK else "_constraints",
                    S.ERROR: result.no_match.get(i, ""),
                    S.WARNINGS: "；".join(b.warnings[i]) if b.warnings else "",
                    S.IMPUTED_VALUES: imputed_values_text(b, i),
                }
            )
        for e in errors:
            records.append(
                {
                    S.ROW: e.row,
                    S.FIRM_ID: e.firm_id,
                    S.FIRM_NAME: e.name,
                    **{c: "" for c in S.PASSTHROUGH_COLUMNS},
                    S.STATE: S.REJECTED,
                    S.TOP_PARK: "",
                    S.TOP3: "",
                    S.FIELD: e.field,
                    S.ERROR: e.reason,
                    S.WARNINGS: "",
                    S.IMPUTED_VALUES: "",
                }
            )
        out = pd.DataFrame.from_records(records, columns=list(S.FIRM_SUMMARY_COLUMNS))
        return out.sort_values(S.ROW, kind="stable").reset_index(drop=True)


def _text_col(batch: FirmBatch, name: str) -> np.ndarray:
    """A text column of the batch, or blanks when the input did not have it."""
    col = batch.cols.get(name)
    return col if col is not None else np.full(len(batch), "", dtype=object)

"""``parkmatch bench``: parkmatch's figures side by side with a naive peer, on this machine.

Five sections, the second in three parts (see ``docs/benchmarks.md`` for the latest full run):

1. one recommendation in-process (``Matcher.recommend``) against the pandas/scikit-learn code a
   data scientist writes first (:class:`NaivePeer`), plus the retrieval step alone (FAISS exact
   inner product against ``sklearn.neighbors.NearestNeighbors``);
2. HTTP over loopback (:func:`benchmarks.http.run_http_benchmark`); single-firm p99 alone and
   beside two keys' 1,000-firm batches (:func:`~benchmarks.http.run_batch_isolation`); a soak of
   mixed traffic with reloads (:func:`~benchmarks.http.run_soak`: 5xx, lost writes, worker RSS);
3. batch matching (:func:`benchmarks.batch.benchmark_batch`), local and Dask, with LightGBM's
   predict-only time on the same rows as the floor;
4. training a bundle on the default simulated world in a child process (seconds, peak RSS);
5. retrieval over a million firm vectors: FAISS IVF and HNSW, tuned in the run, against exact
   ``IndexFlatIP`` and scikit-learn brute force.

Every figure is printed with its ratio to the naive peer ("× better": peer/ours for times,
ours/peer for rates).  The machine is shared and noisy, so latencies are medians over many calls
and every ratio compares figures measured in the same run.  Load averages are recorded with each
section.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S
from features.pairs import FEATURE_NAMES, FUNCTION_FLAGS, GROUP_ORDER, LEVEL_ORDER, PRECEDENT_FEATURES
from features.trade_text import TradeText, park_trade_texts
from features.validation import POLLUTION_ORDER
from matcher.bundle import MANIFEST
from training.config import TrainConfig

TARGET_RATIO = 5.0
TARGET_RECALL = 0.95
TARGET_ANN_SPEEDUP = 10.0
TARGET_TRAIN_SECONDS = 180.0
PEER_BATCH_MAX_S = 90.0
# The speed targets (docs/benchmarks.md): in-process, wrk against two workers, batch.
TARGET_SINGLE_MS = 1.0
TARGET_WRK_RPS = 800.0
TARGET_WRK_P50_MS = 10.0
TARGET_WRK_P99_MS = 20.0
TARGET_CPU_OVER_INPROCESS = 1.3
TARGET_BATCH_FPS = 5000.0
TARGET_PIPELINE_OVER_PREDICT = 3.0
TARGET_DASK_OVER_LOCAL = 0.9
TARGET_1M_PEAK_GIB = 4.0
QUICK_WORLD_FIRMS = 50_000
LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "faiss-cpu",
    "pyarrow",
    "dask",
    "distributed",
    "fastapi",
    "uvicorn",
    "psutil",
)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- pure helpers ---------------------------------------------------------------------------


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """The q-th percentile (0-100, linear interpolation); NaN for no values."""
    arr = np.asarray(values, dtype=np.float64)
    return float(np.percentile(arr, q)) if arr.size else float("nan")


def latency_summary(seconds: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Per-call wall times in seconds → median / p90 / p99 / mean in milliseconds."""
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "n": int(arr.size),
        "median_ms": percentile(arr, 50),
        "p90_ms": percentile(arr, 90),
        "p99_ms": percentile(arr, 99),
        "mean_ms": float(arr.mean()) if arr.size else float("nan"),
    }


def ratio(ours: float | None, peer: float | None, higher_is_better: bool) -> float | None:
    """How many times better parkmatch is than the peer (> 1 means better), or None."""
    if ours is None or peer is None:
        return None
    if not (math.isfinite(ours) and math.isfinite(peer)) or ours <= 0 or peer <= 0:
        return None
    return ours / peer if higher_is_better else peer / ours


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:.1f}×" if r < 100 else f"{r:.0f}×"


def fmt_num(value: float | str | None, unit: str = "") -> str:
    """A figure for the table: 3 significant digits below 100, thousands separators above."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return "n/a"
    a = abs(value)
    if a >= 100:
        text = f"{value:,.0f}"
    elif a >= 10:
        text = f"{value:.1f}"
    elif a >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


@dataclass
class Row:
    """One line of the result table."""

    section: str
    metric: str
    ours: float | str | None
    peer: float | str | None = None
    unit: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


def format_table(rows: Sequence[Row]) -> str:
    head = ("section", "metric", "parkmatch", "naive peer", "ratio", "target", "met", "note")
    lines = [
        (
            r.section,
            r.metric,
            fmt_num(r.ours, r.unit),
            fmt_num(r.peer, r.unit),
            fmt_ratio(r.ratio),
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    out = [
        "| section | metric | parkmatch | naive peer | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        out.append(
            f"| {r.section} | {r.metric} | {fmt_num(r.ours, r.unit)} | {fmt_num(r.peer, r.unit)} "
            f"| {fmt_ratio(r.ratio)} | {r.target} | {met} | {r.note} |"
        )
    return "\n".join(out)


def pick(d: Mapping[str, Any] | None, *names: str) -> float | None:
    """The first numeric value among ``names`` in a result dict from another module."""
    if not d:
        return None
    for n in names:
        v = d.get(n)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs: dict[str, str] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = "not installed"
    try:
        import psutil

        mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
        physical = psutil.cpu_count(logical=False)
    except Exception:  # psutil is a dependency, but machine info must never fail the bench
        mem_gib, physical = float("nan"), None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "libraries": libs,
        "load_average_at_start": list(os.getloadavg()),
    }


def load_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the naive peer -------------------------------------------------------------------------


def firm_records(firms: pd.DataFrame, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` realistic firm profiles (every field given) sampled across the simulated register."""
    rng = np.random.default_rng(seed)
    rows = firms.iloc[np.sort(rng.choice(len(firms), size=min(n, len(firms)), replace=False))]
    out: list[dict[str, Any]] = []
    for raw in rows[list(S.FIRM_COLUMNS)].to_dict("records"):
        rec = {str(k): v for k, v in raw.items()}
        for col in S.FIRM_LIST_COLUMNS:
            v = rec.get(col)
            rec[col] = [str(x) for x in v] if v is not None and not isinstance(v, str) else []
        for k, v in list(rec.items()):
            if isinstance(v, float) and math.isnan(v):
                rec[k] = None
            elif isinstance(v, np.generic):
                rec[k] = v.item()
        rec["origin_district"] = rec.get("origin_district") or None
        out.append(rec)
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def _shared_digits(firm_code: str, park_code: str) -> int:
    best = 0
    for n in (2, 3, 4):
        if len(firm_code) >= n and len(park_code) >= n and firm_code[:n] == park_code[:n]:
            best = n
    return best


def _num(value: Any) -> float:
    """A catalogue value as a float; unknown (None or NaN) stays NaN."""
    if value is None:
        return float("nan")
    if isinstance(value, bool):
        return float(value)
    return float(value)


def _pollution(value: Any) -> float:
    return float(POLLUTION_ORDER[value]) if value in POLLUTION_ORDER else float("nan")


def peer_feasible(firm: Mapping[str, Any], park: pd.Series) -> bool:
    """The hard constraints, one park at a time; an unknown park value never rules a park out."""
    code = str(firm["industry_code"])
    if any(code.startswith(r) for r in park[S.RESTRICTED_INDUSTRIES]):
        return False
    if POLLUTION_ORDER[firm["pollution_level"]] > _pollution(park[S.MAX_POLLUTION_LEVEL]):
        return False
    if float(firm["land_need_mu"]) > _num(park[S.AVAILABLE_LAND_MU]):
        return False
    if float(park[S.DISTANCE_KM]) > float(firm["max_distance_km"]):
        return False
    return not (bool(firm["needs_port"]) and _num(park[S.PORT_ACCESS]) == 0.0)


PEER_DECISION_YEAR = 2025


_PEER_TRADE: list[tuple[pd.DataFrame, TradeText]] = []


def _peer_trade_text(parks: pd.DataFrame) -> TradeText:
    """The parks' trade words, built once per catalogue frame (the peer's one concession: the
    vocabulary of 306 park texts is not rebuilt for every firm)."""
    hit = next((t for frame, t in _PEER_TRADE if frame is parks), None)
    if hit is None:
        hit = TradeText(park_trade_texts(parks))
        _PEER_TRADE[:] = [(parks, hit)]
    return hit


def peer_pair_features(
    firm: Mapping[str, Any], parks: pd.DataFrame, positions: Sequence[int], sims: Sequence[float]
) -> pd.DataFrame:
    """The pair features a data scientist writes first: a loop over candidate parks, one dict
    per (firm, park) row, the same kinds of features as :func:`features.pairs.pair_features`
    (same names and formulas, so the same model could be trained on either)."""
    io = R.load_io42()
    both = io.a + io.a.T
    code = str(firm["industry_code"])
    firm_sector = R.io42_sector(code)
    partner_divs = {p[:2] for p in firm["chain_partner_codes"]}
    prios = list(firm["subsidy_priorities"])
    ties = float(firm["beijing_ties"])
    need = float(firm["land_need_mu"])
    talent = float(firm["talent_level"])
    functions = set(firm["functions"])
    hit = R.resolve_district(firm["origin_district"]) if firm.get("origin_district") else None
    olat, olng = (hit[1], hit[2]) if hit else (S.BEIJING_LAT, S.BEIJING_LNG)
    trade = _peer_trade_text(parks).similarity([str(firm.get("description") or "")])[0]
    rows = []
    for p, sim in zip(positions, sims, strict=True):
        park = parks.iloc[int(p)]
        codes = list(park[S.INDUSTRY_CODES])
        depth = max((_shared_digits(code, c) for c in codes), default=0)
        link = 0.0
        if firm_sector is not None:
            secs = [s for s in (R.io42_sector(c) for c in codes) if s]
            if secs:
                link = max(float(both[io.index(firm_sector), io.index(s)]) for s in secs)
        park_divs = {c[:2] for c in codes}
        subs = {item: _num(park[f"subsidy_{item}"]) for item in S.SUBSIDY_ITEMS}
        stated = [v for v in subs.values() if not math.isnan(v)]
        total = sum(stated) / (3.0 * len(subs))
        stated_prios = [subs[s] for s in prios if not math.isnan(subs[s])]
        match = (sum(stated_prios) / (3.0 * len(prios))) if stated_prios else float("nan")
        reg = _num(park[S.KEEPS_BEIJING_REGISTRATION])
        dist = float(park[S.DISTANCE_KM])
        rail = float(park[S.RAIL_MINUTES])
        land = _num(park[S.AVAILABLE_LAND_MU])
        price = _num(park[S.LAND_PRICE])
        port = _num(park[S.PORT_ACCESS])
        ptype = park[S.PLATFORM_TYPE]
        designated = set(park[S.DESIGNATED_FUNCTIONS])
        row = {
            "chain_depth": depth / 4.0,
            "chain_covers": float(any(code.startswith(c) for c in codes)),
            "chain_io": link,
            "chain_partners": (len(partner_divs & park_divs) / len(partner_divs)) if partner_divs else -1.0,
            "embedding_sim": float(sim),
            "trade_text": float(trade[int(p)]),
            "land_ratio_log": math.log1p(land) - math.log1p(need),
            "land_need_log": math.log1p(need),
            "land_price_log": math.log(max(price, 1.0)),
            "land_cost_log": math.log1p(need * price / 1e4),
            "land_floor_log": math.log(max(_num(park[S.LAND_PRICE_FLOOR]), 1.0))
            if not math.isnan(_num(park[S.LAND_PRICE_FLOOR]))
            else float("nan"),
            "talent_level": talent,
            "talent_pool": float(park[S.TALENT_POOL]),
            "talent_gap": float(park[S.TALENT_POOL]) - talent,
            "subsidy_match": match if prios else (total if stated else float("nan")),
            "subsidy_total": total,
            "keeps_registration": reg,
            "registration_x_ties": reg * ties,
            "registration_pharma": reg * float(code.startswith("27")),
            "distance_km": dist,
            "origin_distance_km": float(R.haversine_km(olat, olng, float(park[S.LAT]), float(park[S.LNG]))),
            "rail_minutes": rail,
            "ties_x_distance": ties * dist / 100.0,
            "ties_x_rail": ties * rail / 60.0,
            "distance_over_max": dist / max(float(firm["max_distance_km"]), 1.0),
            "beijing_ties": ties,
            "platform_type_id": float(S.PLATFORM_TYPES.index(ptype))
            if ptype in S.PLATFORM_TYPES
            else float("nan"),
            "park_level": float(LEVEL_ORDER.get(park[S.LEVEL], 1)),
            "platform_group": float(GROUP_ORDER.get(park[S.PLATFORM_GROUP], 0)),
            **{name: float(bool(functions.intersection(want))) for name, want in FUNCTION_FLAGS.items()},
            "capacity_log": math.log1p(_num(park[S.CAPACITY_PER_YEAR])),
            "port_match": port * float(bool(firm["needs_port"])),
            "port_access": port,
            "pollution_headroom": _pollution(park[S.MAX_POLLUTION_LEVEL])
            - POLLUTION_ORDER[firm["pollution_level"]],
            "employees_log": math.log1p(float(firm["employees"])),
            # The peer keeps no relocation history and ranks for the current year.
            "cluster_share": 0.0,
            "park_popularity": 0.0,
            "decision_year": float(PEER_DECISION_YEAR),
            "designated_function": float(bool(designated & functions)),
            "designated_industry": float(any(code.startswith(c) for c in park[S.DESIGNATED_INDUSTRIES])),
            "designated_any": float(bool(designated)),
            # nor any documented precedent
            **{name: 0.0 for name in PRECEDENT_FEATURES},
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))


class NaivePeer:
    """NearestNeighbors (brute, cosine) → row-by-row constraints and features → HistGradientBoosting.

    It embeds the firm with the bundle's own :class:`~features.embeddings.ProfileEmbedder`, so
    both sides pay the same embedding cost and differ only in how the rest is written.  It returns
    the top parks and scores but no reasons (parkmatch also explains every recommendation).
    """

    def __init__(self, embedder: Any, parks: pd.DataFrame, park_vectors: np.ndarray, candidates: int = 60):
        from sklearn.neighbors import NearestNeighbors

        self.embedder = embedder
        self.parks = parks.reset_index(drop=True)
        self.candidates = candidates
        self.nn = NearestNeighbors(algorithm="brute", metric="cosine").fit(park_vectors)
        self.model: Any = None
        self.feature_seconds_per_group = float("nan")
        self.fit_seconds = float("nan")
        self.fit_rows = 0

    def embed(self, firm: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(
            self.embedder.embed_firms(
                [firm.get("description") or ""],
                [str(firm["industry_code"])],
                [list(firm["chain_partner_codes"])],
            )
        )

    def candidates_for(self, firm: Mapping[str, Any]) -> tuple[list[int], list[float]]:
        dist, idx = self.nn.kneighbors(self.embed(firm), n_neighbors=len(self.parks))
        cand: list[int] = []
        sims: list[float] = []
        for p, d in zip(idx[0], dist[0], strict=True):
            if peer_feasible(firm, self.parks.iloc[int(p)]):
                cand.append(int(p))
                sims.append(1.0 - float(d))
                if len(cand) == self.candidates:
                    break
        return cand, sims

    def fit(
        self,
        records: Sequence[Mapping[str, Any]],
        chosen: Sequence[str],
        shortlists: Sequence[Sequence[str]],
        seed: int = 0,
    ) -> NaivePeer:
        from sklearn.ensemble import HistGradientBoostingClassifier

        t0 = time.perf_counter()
        frames, labels = [], []
        ids = self.parks[S.PARK_ID].to_numpy()
        for firm, ch, short in zip(records, chosen, shortlists, strict=True):
            cand, sims = self.candidates_for(firm)
            if not cand:
                continue
            frames.append(peer_pair_features(firm, self.parks, cand, sims))
            good = {ch, *short}
            labels.append(np.array([1 if ids[p] in good else 0 for p in cand]))
        t1 = time.perf_counter()
        x = pd.concat(frames, ignore_index=True)
        y = np.concatenate(labels)
        # a feature the catalogue leaves unknown for every park is all NaN, and scikit-learn's
        # binning cannot take a column without one value: the peer drops such columns
        self.columns_ = [c for c in x.columns if x[c].notna().any()]
        self.model = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(x[self.columns_], y)
        self.feature_seconds_per_group = (t1 - t0) / max(len(records), 1)
        self.fit_seconds = time.perf_counter() - t1
        self.fit_rows = len(y)
        return self

    def recommend(self, firm: Mapping[str, Any], top: int = 10) -> list[tuple[str, float]]:
        cand, sims = self.candidates_for(firm)
        if not cand:
            return []
        x = peer_pair_features(firm, self.parks, cand, sims)
        proba = self.model.predict_proba(x[self.columns_])[:, 1]
        order = np.argsort(-proba)[:top]
        return [(str(self.parks.iloc[cand[i]][S.PARK_ID]), float(proba[i])) for i in order]


# --- set-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    """What the bench needs from the operator's settings, as typed values."""

    home: Path
    train: TrainConfig  # the default recipe: its world, its bundle, its knobs
    chunk_rows: int = 20_000


@dataclass
class Context:
    settings: BenchConfig
    quick: bool
    bench_dir: Path
    model_dir: Path
    world_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _bundle_ok(path: Path) -> bool:
    if not (path / MANIFEST).exists():
        return False
    from matcher.core import Matcher

    try:
        Matcher.load(path)
    except Exception as exc:
        log(f"model bundle {path} does not load ({exc}); a bench bundle will be trained")
        return False
    return True


def quick_world(ctx_settings: BenchConfig, bench_dir: Path) -> Path:
    from training.train import ensure_world

    path = bench_dir / f"world-{QUICK_WORLD_FIRMS}-{ctx_settings.train.seed}"
    ensure_world(path, QUICK_WORLD_FIRMS, ctx_settings.train.seed)
    return path


def setup(settings: BenchConfig, quick: bool) -> Context:
    from training.train import WORLD_FILES, ensure_world, train_bundle

    bench_dir = Path(settings.home) / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    default_world = settings.train.world_dir
    have_default = all((default_world / f).exists() for f in WORLD_FILES)
    model_dir = settings.train.out
    notes = []
    if not _bundle_ok(model_dir):
        if quick:
            model_dir = bench_dir / "model-quick"
            if not _bundle_ok(model_dir):
                wq = quick_world(settings, bench_dir)
                log(
                    f"no usable model bundle: training a small one on the {QUICK_WORLD_FIRMS:,}-firm world "
                    f"into {model_dir}"
                )
                train_bundle(replace(settings.train, world_dir=wq, out=model_dir, n_firms=QUICK_WORLD_FIRMS))
            notes.append(
                f"model: small bench bundle trained on a {QUICK_WORLD_FIRMS:,}-firm world ({model_dir})"
            )
        else:
            target = model_dir if not (model_dir / MANIFEST).exists() else bench_dir / "model"
            log(f"no usable model bundle: training one on the default world into {target}")
            train_bundle(replace(settings.train, out=target))
            model_dir = target
            have_default = True
            notes.append(f"model: trained by the bench on the default world ({model_dir})")
    # Benchmark a snapshot, so a bundle retrained in place during the run cannot mix models.
    import shutil

    snapshot = bench_dir / "model-snapshot"
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(model_dir, snapshot)
    notes.append(f"bundle {model_dir} copied to {snapshot} at the start and benchmarked from there")
    model_dir = snapshot
    if have_default:
        world_dir = default_world
    elif quick:
        world_dir = quick_world(settings, bench_dir)
    else:
        world_dir = bench_dir / "world-default"
        ensure_world(world_dir, settings.train.n_firms, settings.train.seed)
    return Context(settings, quick, bench_dir, model_dir, world_dir, notes=notes)


# --- section 1: one recommendation ----------------------------------------------------------


def query_vectors(matcher: Any, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The vectors ``Matcher.retrieve`` sends to FAISS for these firms, one at a time."""
    import inspect

    from features.pairs import FirmArrays
    from features.validation import columns_from_records

    out = []
    two_args = len(inspect.signature(matcher.firm_vectors).parameters) >= 2
    for rec in records:
        batch, _ = matcher.prepare(columns_from_records([rec]))
        if two_args:
            out.append(matcher.firm_vectors(batch, FirmArrays.build(batch, matcher.park_arrays)))
        else:
            out.append(matcher.firm_vectors(batch))
    return np.vstack(out).astype(np.float32)


def bench_single(ctx: Context) -> None:
    from sklearn.neighbors import NearestNeighbors

    from matcher.core import Matcher
    from training.train import TRAIN_UNTIL_YEAR, load_world_frames

    n_calls = 300 if ctx.quick else 600
    n_fit = 400 if ctx.quick else 1500
    matcher = Matcher.load(ctx.model_dir)
    firms, events = load_world_frames(ctx.world_dir)
    records = firm_records(firms, n_calls + 20, seed=1)
    warm, timed = records[:20], records[20:]

    # Peer trained on a sample of the same training groups (years ≤ 2020).
    ev = events[events[S.YEAR] <= TRAIN_UNTIL_YEAR]
    ev = ev.iloc[np.random.default_rng(2).permutation(len(ev))[:n_fit]]
    by_id = firms.set_index(S.FIRM_ID, drop=False)
    fit_records = firm_records(by_id.loc[ev[S.FIRM_ID].to_numpy()].reset_index(drop=True), len(ev), seed=0)
    order = {r[S.FIRM_ID]: i for i, r in enumerate(fit_records)}
    fit_records = [fit_records[order[f]] for f in ev[S.FIRM_ID]]
    parks = matcher.parks
    peer = NaivePeer(
        matcher.embedder, parks, matcher.embedder.embed_parks(parks), candidates=matcher.candidates
    )
    log(f"1/5 fitting the naive peer on {len(fit_records):,} training groups")
    peer.fit(fit_records, list(ev[S.CHOSEN_PARK_ID]), [list(s) for s in ev[S.SHORTLIST_PARK_IDS]])

    log(f"1/5 timing {len(timed)} single recommendations (parkmatch, then peer)")
    for rec in warm:
        matcher.recommend(rec)
        peer.recommend(rec)
    ours, ours_cpu, theirs, agree = [], [], [], 0
    for rec in timed:
        t, c = time.perf_counter(), time.thread_time()
        res = matcher.recommend(rec)
        ours_cpu.append(time.thread_time() - c)
        ours.append(time.perf_counter() - t)
    for rec in timed:
        t = time.perf_counter()
        peer.recommend(rec)
        theirs.append(time.perf_counter() - t)
    for rec in timed[:100]:
        a = [r.park_id for r in matcher.recommend(rec).recommendations[:10]]
        b = [p for p, _ in peer.recommend(rec)]
        agree += len(set(a) & set(b))
    del res

    # The retrieval step alone: exact FAISS (the bundle's index) vs scikit-learn brute force
    # over the same park vectors, with the matcher's own query vectors.
    vecs = query_vectors(matcher, timed[:200])
    n_parks = len(parks)
    index_vectors = matcher.index.index_.reconstruct_n(0, matcher.index.ntotal)
    nn = NearestNeighbors(algorithm="brute", metric="cosine").fit(index_vectors)
    f_t, s_t = [], []
    for v in vecs:
        t = time.perf_counter()
        matcher.index.search(v[None, :], n_parks)
        f_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        nn.kneighbors(v[None, :], n_neighbors=n_parks)
        s_t.append(time.perf_counter() - t)

    so, sp_ = latency_summary(ours), latency_summary(theirs)
    fr, sr = latency_summary(f_t), latency_summary(s_t)
    ctx.results["single"] = {
        "calls": len(timed),
        "parkmatch": so,
        "parkmatch_cpu": latency_summary(ours_cpu),
        "peer": sp_,
        "peer_fit_groups": len(fit_records),
        "peer_fit_rows": peer.fit_rows,
        "peer_fit_seconds": peer.fit_seconds,
        "peer_feature_seconds_per_group": peer.feature_seconds_per_group,
        "top10_overlap_with_peer": agree / (100 * 10),
        "retrieval_faiss_flat": fr,
        "retrieval_sklearn_brute": sr,
        "n_parks": n_parks,
        "load": load_now(),
    }
    sec = "1 single firm"
    for key, label in (("median_ms", "median latency"), ("p99_ms", "p99 latency")):
        r = ratio(so[key], sp_[key], higher_is_better=False)
        ctx.rows.append(
            Row(
                sec,
                f"recommend {label}",
                so[key],
                sp_[key],
                "ms",
                r,
                f"≥{TARGET_RATIO:.0f}× peer",
                r is not None and r >= TARGET_RATIO,
                f"{len(timed)} calls, with reasons",
            )
        )
    ctx.rows.append(
        Row(
            sec,
            "recommend median, target",
            so["median_ms"],
            sp_["median_ms"],
            "ms",
            ratio(so["median_ms"], sp_["median_ms"], higher_is_better=False),
            f"≤{TARGET_SINGLE_MS:g} ms",
            so["median_ms"] <= TARGET_SINGLE_MS,
            f"ranker: {matcher.ranker.engine}; CPU median {percentile(ours_cpu, 50) * 1000:.2f} ms",
        )
    )
    r = ratio(fr["median_ms"], sr["median_ms"], higher_is_better=False)
    ctx.rows.append(
        Row(
            sec,
            f"retrieval step median ({n_parks} parks)",
            fr["median_ms"],
            sr["median_ms"],
            "ms",
            r,
            "",
            None,
            "FAISS exact IP vs sklearn brute cosine",
        )
    )
    ctx.results["_peer"] = peer
    ctx.results["_peer_per_firm_s"] = float(np.mean(theirs))


# --- section 2: HTTP ------------------------------------------------------------------------


def bench_http(ctx: Context) -> None:
    sec = "2 HTTP loopback"
    seconds = 10 if ctx.quick else 30
    try:
        from benchmarks.http import run_http_benchmark
    except ImportError as exc:
        ctx.results["http"] = {
            "status": "not available",
            "reason": f"benchmarks.http.run_http_benchmark: {exc}",
        }
        ctx.rows.append(Row(sec, "HTTP benchmark", "not available", note="benchmarks/http.py missing"))
        return
    log(f"2/5 HTTP over loopback: 8 clients, {seconds} s, 2 workers")
    try:
        res = dict(run_http_benchmark(ctx.model_dir, clients=8, seconds=seconds, workers=2))
    except Exception as exc:
        ctx.results["http"] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        ctx.rows.append(Row(sec, "HTTP benchmark", "failed", note=f"{type(exc).__name__}: {exc}"[:80]))
        return
    res["load"] = load_now()
    ctx.results["http"] = res
    single = ctx.results.get("single", {})
    peer_ms = single.get("peer", {}).get("median_ms")
    peer_p99 = single.get("peer", {}).get("p99_ms")
    # The peer has no server: its in-process latency is a lower bound for what it would serve,
    # and 2 cores / its mean latency an upper bound for its request rate.
    peer_rps = 2.0 / ctx.results["_peer_per_firm_s"] if "_peer_per_firm_s" in ctx.results else None
    p50 = pick(res, "p50_ms", "p50", "median_ms")
    p90 = pick(res, "p90_ms", "p90")
    p99 = pick(res, "p99_ms", "p99")
    rps = pick(res, "rps", "requests_per_s", "throughput_rps")
    errors = pick(res, "errors", "error_count")
    note = "peer: in-process, no HTTP (its best case)"
    r = ratio(p50, peer_ms, False)
    ctx.rows.append(
        Row(
            sec,
            "p50 latency (8 clients)",
            p50,
            peer_ms,
            "ms",
            r,
            f"≥{TARGET_RATIO:.0f}× peer",
            r is not None and r >= TARGET_RATIO,
            note,
        )
    )
    ctx.rows.append(Row(sec, "p90 latency", p90, None, "ms"))
    r = ratio(p99, peer_p99, False)
    ctx.rows.append(
        Row(
            sec,
            "p99 latency",
            p99,
            peer_p99,
            "ms",
            r,
            f"≥{TARGET_RATIO:.0f}× peer",
            r is not None and r >= TARGET_RATIO,
            note,
        )
    )
    r = ratio(rps, peer_rps, True)
    ctx.rows.append(
        Row(
            sec,
            "requests/s",
            rps,
            peer_rps,
            "",
            r,
            f"≥{TARGET_RATIO:.0f}× peer",
            r is not None and r >= TARGET_RATIO,
            "peer: 2 cores / mean in-process latency",
        )
    )
    ctx.rows.append(
        Row(sec, "errors", errors, None, "", None, "0", errors == 0 if errors is not None else None)
    )
    bench_wrk(ctx, peer_ms, peer_rps)


def bench_wrk(ctx: Context, peer_ms: float | None, peer_rps: float | None) -> None:
    """``wrk``, 8 connections, ``parkmatch serve --workers 2``, 3 runs of 10 s, one firm posted;
    the server's CPU per request against the same firm's in-process time, measured here."""
    from benchmarks.http import BENCH_FIRMS, run_wrk_benchmark
    from matcher.core import Matcher

    sec = "2 HTTP wrk"
    log("2/5 HTTP with wrk: 8 connections, 2 workers, 3 runs of 10 s")
    res = run_wrk_benchmark(ctx.model_dir, connections=8, workers=2, runs=3, seconds=10)
    res["load"] = load_now()
    matcher = Matcher.load(ctx.model_dir)
    matcher.ranker.num_threads = 1
    firm = BENCH_FIRMS[0]
    for _ in range(50):
        matcher.recommend_records([firm])
    # CPU time on both sides: on a busy machine wall time counts the waits for a core, CPU
    # time does not, so the ratio stays the web layer's cost
    times, wall = [], []
    for _ in range(500):
        t, c = time.perf_counter(), time.thread_time()
        matcher.recommend_records([firm])
        times.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    inproc_ms = percentile(times, 50) * 1000.0
    res["in_process_cpu_ms"] = inproc_ms
    res["in_process_wall_ms"] = percentile(wall, 50) * 1000.0
    ctx.results["http_wrk"] = res
    if res.get("status"):
        ctx.rows.append(Row(sec, "wrk", str(res["status"]), note=str(res.get("reason"))[:100]))
        return
    for i, run in enumerate(res["runs"], 1):
        if run.get("status"):
            ctx.rows.append(Row(sec, f"run {i}", str(run["status"]), note=str(run.get("reason"))[:100]))
            continue
        ok = (
            run["requests_per_s"] >= TARGET_WRK_RPS
            and run["p50_ms"] <= TARGET_WRK_P50_MS
            and run["p99_ms"] <= TARGET_WRK_P99_MS
            and run["errors"] == 0
        )
        ctx.rows.append(
            Row(
                sec,
                f"run {i}: requests/s",
                run["requests_per_s"],
                peer_rps,
                "/s",
                ratio(run["requests_per_s"], peer_rps, True),
                f"≥{TARGET_WRK_RPS:,.0f}/s, p50 ≤{TARGET_WRK_P50_MS:g}, p99 ≤{TARGET_WRK_P99_MS:g} ms, 0 err",
                ok,
                f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, errors {run['errors']}; "
                f"per worker {run['served_per_worker']}",
            )
        )
        cpu = run["cpu_ms_per_request"]
        r_cpu = cpu / inproc_ms if inproc_ms > 0 else None
        ctx.rows.append(
            Row(
                sec,
                f"run {i}: server CPU per request / in-process",
                r_cpu,
                None,
                "×",
                None,
                f"≤{TARGET_CPU_OVER_INPROCESS:g}×",
                r_cpu is not None and r_cpu <= TARGET_CPU_OVER_INPROCESS,
                f"{cpu:.2f} ms CPU vs {inproc_ms:.2f} ms CPU in process; peer {fmt_num(peer_ms, 'ms')}",
            )
        )


def bench_isolation(ctx: Context) -> None:
    """Single-firm p99 alone and under two keys' 1,000-firm batches, on one server in one run."""
    sec = "2b HTTP batch isolation"
    seconds = 10 if ctx.quick else 20
    from benchmarks.http import run_batch_isolation

    log(f"HTTP batch isolation: 2 single clients, {seconds} s alone then {seconds} s beside 2 batch keys")
    res = run_batch_isolation(ctx.model_dir, seconds=seconds)
    ctx.results["isolation"] = res
    r = res["p99_ratio"]
    ctx.rows.append(Row(sec, "single p99, no batches", res["unloaded"]["single_p99_ms"], None, "ms"))
    ctx.rows.append(
        Row(
            sec,
            "single p99, 2 keys × 1,000-firm batches",
            res["batch_load"]["single_p99_ms"],
            None,
            "ms",
            None,
            "≤2× unloaded",
            r is not None and r <= 2.0,
            f"ratio {r}; {res['batch_load']['batches_done']} batches; load {res['batch_load']['load_1min']}",
        )
    )


def bench_soak(ctx: Context) -> None:
    """60 s of singles, batches, feedback and a reload every 10 s: 5xx, lost writes, RSS."""
    sec = "2c HTTP soak"
    from benchmarks.http import FLAT_RSS_MIB, run_soak

    seconds = 20 if ctx.quick else 60
    log(f"HTTP soak: {seconds} s of singles, batches, feedback and a reload every 10 s")
    res = run_soak(ctx.model_dir, seconds=seconds)
    ctx.results["soak"] = res
    ctx.rows.append(Row(sec, "5xx answers", res["5xx"], None, "", None, "0", res["5xx"] == 0))
    ctx.rows.append(
        Row(
            sec,
            "lost feedback writes",
            res["lost_writes"],
            None,
            "",
            None,
            "0",
            res["lost_writes"] == 0,
            f"{res['feedback_201']} × 201, {res['feedback_rows']} rows",
        )
    )
    growth = [res["rss_mib_end"].get(pid, math.nan) - mib for pid, mib in res["rss_mib_start"].items()]
    ctx.rows.append(
        Row(
            sec,
            "worker RSS growth, start to end (max)",
            round(max(growth), 1) if growth else None,
            None,
            "MiB",
            note=f"worker with its batch process; start {res['rss_mib_start']}, end {res['rss_mib_end']}",
        )
    )
    flat = res["rss_flatness"]
    ctx.rows.append(
        Row(
            sec,
            "worker RSS, last third vs middle third (max)",
            max((w["growth_mib"] for w in flat.values()), default=None),
            None,
            "MiB",
            None,
            f"≤ {FLAT_RSS_MIB:g} MiB (flat)",
            res["rss_flat"],
            "medians of RSS sampled every 2 s; " + ", ".join(f"{k}: {w}" for k, w in flat.items()),
        )
    )


def bench_audit(ctx: Context) -> None:
    """Single-firm p50 and p99 with the audit log on and off: two servers, alternating runs."""
    sec = "2d HTTP audit cost"
    from benchmarks.audit import run_audit_cost

    runs, seconds = (5, 5.0) if ctx.quick else (5, 10.0)
    log(f"HTTP audit cost: 8 clients, 2 workers, {runs} × {seconds:g} s per mode, off and on alternating")
    res = run_audit_cost(ctx.model_dir, clients=8, seconds=seconds, runs=runs, workers=2)
    res["load"] = load_now()
    ctx.results["audit"] = res
    for q in ("p50", "p99"):
        r = res[f"{q}_ratio"]
        ctx.rows.append(
            Row(
                sec,
                f"single {q}, audit on / off",
                r,
                None,
                "×",
                None,
                "≤1.1×" if q == "p99" else "",
                (r is not None and r <= 1.1) if q == "p99" else None,
                f"on {res['on'][q + '_ms']} ms, off {res['off'][q + '_ms']} ms (medians of {runs} runs); "
                f"median of the pairs' ratios {res[q + '_pair_ratio_median']}",
            )
        )
    ctx.rows.append(
        Row(
            sec,
            "audit rows written / requests measured",
            res["audit_rows"]["on"],
            None,
            "",
            None,
            "≥ measured, 0 with the audit off",
            res["audit_rows"]["on"] >= res["measured_requests"]["on"] and res["audit_rows"]["off"] == 0,
            f"{res['measured_requests']['on']} measured (warm-ups are audited too); errors {res['errors']}",
        )
    )


# --- section 3: batch -----------------------------------------------------------------------


def bench_batch(ctx: Context) -> None:
    sec = "3 batch"
    try:
        from benchmarks.batch import benchmark_batch
    except ImportError as exc:
        ctx.results["batch"] = {
            "status": "not available",
            "reason": f"benchmarks.batch.benchmark_batch: {exc}",
        }
        ctx.rows.append(
            Row(sec, "batch benchmark", "not available", note="benchmarks.batch.benchmark_batch missing")
        )
        bench_batch_peer(ctx, None)
        return
    n = 20_000 if ctx.quick else 100_000
    out: dict[str, Any] = {"n_firms": n}
    runs: list[tuple[str, int, str]] = [("local", n, "local"), ("dask", n, "dask")]
    if not ctx.quick:
        runs.append(("local_1m", 1_000_000, "local"))
    for key, size, engine in runs:
        log(f"3/5 batch: {size:,} firms, engine={engine}")
        try:
            res = dict(benchmark_batch(ctx.model_dir, n_firms=size, engine=engine, workers=2))
            res["load"] = load_now()
        except Exception as exc:
            res = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        out[key] = res
    ctx.results["batch"] = out
    bench_batch_peer(ctx, out)


def bench_batch_peer(ctx: Context, out: dict[str, Any] | None) -> None:
    sec = "3 batch"
    peer: NaivePeer | None = ctx.results.get("_peer")
    peer_fps = None
    n_peer = 0
    if peer is not None:
        from training.train import load_world_frames

        n_peer = 300 if ctx.quick else 2000
        if ctx.quick:
            per = ctx.results["_peer_per_firm_s"]
        else:
            firms, _ = load_world_frames(ctx.world_dir)
            recs = firm_records(firms, n_peer, seed=3)
            log(f"3/5 batch peer: naive peer over up to {n_peer:,} firms (at most {PEER_BATCH_MAX_S:.0f} s)")
            t = time.perf_counter()
            done = 0
            for rec in recs:
                peer.recommend(rec)
                done += 1
                if time.perf_counter() - t > PEER_BATCH_MAX_S:
                    break
            per = (time.perf_counter() - t) / done
            n_peer = done
        peer_fps = 1.0 / per
        ctx.results.setdefault("batch", {})["peer"] = {
            "firms": n_peer,
            "firms_per_s": peer_fps,
            "note": "extrapolated from a subsample, one process",
        }
    if out is None:
        ctx.rows.append(
            Row(sec, "naive peer firms/s", peer_fps, None, "/s", note=f"{n_peer:,}-firm subsample")
        )
        return
    ctx.rows.extend(batch_rows(out, peer_fps, n_peer))


def batch_rows(out: Mapping[str, Any], peer_fps: float | None, n_peer: int) -> list[Row]:
    """Table rows for the batch section from ``benchmark_batch`` results and the peer's rate."""
    sec = "3 batch"
    rows: list[Row] = []
    for key, label in (("local", "local"), ("dask", "dask 2 workers"), ("local_1m", "local")):
        res = out.get(key)
        if res is None:
            continue
        size = out["n_firms"] if key != "local_1m" else 1_000_000
        if res.get("status"):
            rows.append(
                Row(sec, f"{label} {size:,} firms", str(res["status"]), note=str(res.get("reason"))[:100])
            )
            continue
        fps = pick(res, "firms_per_s")
        secs = pick(res, "seconds")
        rss = pick(res, "peak_rss_mb", "peak_rss_mib")
        pred = pick(res, "predict_only_seconds")
        if key != "local_1m":
            r = ratio(fps, peer_fps, True)
            rows.append(
                Row(
                    sec,
                    f"{label} {size:,} firms: firms/s",
                    fps,
                    peer_fps,
                    "/s",
                    r,
                    f"≥{TARGET_BATCH_FPS:,.0f}/s" if key == "local" else f"≥{TARGET_RATIO:.0f}× peer",
                    (fps is not None and fps >= TARGET_BATCH_FPS)
                    if key == "local"
                    else (r is not None and r >= TARGET_RATIO),
                    f"{fmt_num(secs, 's')} total; peer on {n_peer:,} firms",
                )
            )
        gib = rss / 1024 if rss is not None else None
        rows.append(
            Row(
                sec,
                f"{label} {size:,} firms: peak RSS",
                rss,
                None,
                "MiB",
                None,
                f"≤{TARGET_1M_PEAK_GIB:g} GiB" if key == "local_1m" else "",
                (gib is not None and gib <= TARGET_1M_PEAK_GIB) if key == "local_1m" else None,
                "all processes",
            )
        )
        if pred and secs and key == "local":
            over = secs / pred
            rows.append(
                Row(
                    sec,
                    f"{label}: pipeline / compiled predict-only",
                    over,
                    None,
                    "×",
                    None,
                    f"≤{TARGET_PIPELINE_OVER_PREDICT:g}×",
                    over <= TARGET_PIPELINE_OVER_PREDICT,
                    f"predict-only {fmt_num(pred, 's')} ({res.get('ranker', '?')}, both cores)",
                )
            )
    local, dask = out.get("local"), out.get("dask")
    if local and dask and not local.get("status") and not dask.get("status"):
        lf, df = pick(local, "firms_per_s"), pick(dask, "firms_per_s")
        share = df / lf if lf and df else None
        same = local.get("output_sha256") == dask.get("output_sha256")
        rows.append(
            Row(
                sec,
                "dask / local firms/s, same output",
                share,
                None,
                "×",
                None,
                f"≥{TARGET_DASK_OVER_LOCAL:g}×, identical",
                share is not None and share >= TARGET_DASK_OVER_LOCAL and same,
                "outputs identical" if same else "outputs DIFFER",
            )
        )
    return rows


# --- section 4: training --------------------------------------------------------------------


def run_measured(
    cmd: Sequence[str], poll_s: float = 0.2, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run a child process; wall seconds and peak RSS of it and its descendants (psutil polling)."""
    from benchmarks.memory import PeakRSS

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env) if env else None
    )
    with PeakRSS(proc.pid, interval=poll_s) as mem:
        out = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
        proc.wait()
    return {
        "returncode": proc.returncode,
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": mem.peak / 2**20,
        "output_tail": out[-2000:],
    }


def bench_training(ctx: Context) -> None:
    from training.train import load_world_frames

    sec = "4 training"
    if ctx.quick:
        world = quick_world(ctx.settings, ctx.bench_dir)
        label = f"{QUICK_WORLD_FIRMS:,}-firm world (quick)"
    else:
        world = ctx.world_dir
        label = f"default world ({ctx.settings.train.n_firms:,} firms)"
    with tempfile.TemporaryDirectory(dir=ctx.bench_dir) as tmp:
        log(f"4/5 training on the {label} in a child process")
        res = run_measured(
            [
                sys.executable,
                "-m",
                "parkmatch",
                "train",
                "--data",
                str(world),
                "--out",
                str(Path(tmp) / "model"),
            ]
        )
    _, events = load_world_frames(world)
    res["world"] = str(world)
    res["events"] = len(events)
    res["label"] = label
    res["load"] = load_now()
    # Peer training, extrapolated: its row-by-row features for every event, plus a
    # HistGradientBoosting fit scaled linearly from the sample fit in section 1.
    peer: NaivePeer | None = ctx.results.get("_peer")
    peer_s = None
    if peer is not None and peer.fit_rows:
        n_ev = len(events)
        peer_s = peer.feature_seconds_per_group * n_ev + peer.fit_seconds * (
            n_ev * ctx.settings.train.candidates / peer.fit_rows
        )
        res["peer_seconds_extrapolated"] = peer_s
    ctx.results["training"] = res
    if res["returncode"] != 0:
        ctx.rows.append(
            Row(sec, f"train on {label}", "failed", note=res["output_tail"][-80:].replace("\n", " "))
        )
        return
    r = ratio(res["seconds"], peer_s, False)
    target_ok = res["seconds"] <= TARGET_TRAIN_SECONDS and (r is None or r >= TARGET_RATIO)
    ctx.rows.append(
        Row(
            sec,
            f"train on {label}",
            res["seconds"],
            peer_s,
            "s",
            r,
            f"≤{TARGET_TRAIN_SECONDS:.0f} s, ≥{TARGET_RATIO:.0f}× peer",
            target_ok,
            f"{len(events):,} events; peer extrapolated",
        )
    )
    ctx.rows.append(Row(sec, "training peak RSS", res["peak_rss_mb"], None, "MiB"))


# --- section 5: retrieval over a million vectors --------------------------------------------


def synth_vectors(base: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    """``n`` distinct unit vectors: ``base`` tiled, each copy moved by N(0, σ²) noise, renormalised."""
    rng = np.random.default_rng(seed)
    reps = -(-n // len(base))
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 100_000
    tiled_idx = np.tile(np.arange(len(base)), reps)[:n]
    for s in range(0, n, step):
        e = min(n, s + step)
        block = base[tiled_idx[s:e]] + rng.normal(0.0, sigma, size=(e - s, base.shape[1])).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[s:e] = block
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the true top-k ids found in the approximate top-k."""
    hits = [len(set(found[i, :k].tolist()) & set(truth[i, :k].tolist())) for i in range(len(truth))]
    return float(np.mean(hits)) / k if hits else float("nan")


def _time_batch(
    search: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], q: np.ndarray, repeats: int = 3
) -> tuple[float, np.ndarray]:
    best = float("inf")
    ids = np.zeros(0)
    for _ in range(repeats):
        t = time.perf_counter()
        _, ids = search(q)
        best = min(best, time.perf_counter() - t)
    return best, ids


def _time_single(
    search: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], q: np.ndarray
) -> dict[str, float]:
    ts = []
    for v in q:
        t = time.perf_counter()
        search(v[None, :])
        ts.append(time.perf_counter() - t)
    return latency_summary(ts)


def bench_retrieval(ctx: Context) -> None:
    import faiss

    from matcher.core import Matcher
    from training.train import load_world_frames

    sec = "5 retrieval"
    n = 200_000 if ctx.quick else 1_000_000
    n_distinct = 20_000 if ctx.quick else 100_000
    n_q = 1000
    nlist = 1024 if ctx.quick else 4096
    k = 10
    sigma_norm = 0.1
    matcher = Matcher.load(ctx.model_dir)
    firms, _ = load_world_frames(ctx.world_dir)
    pick_rows = np.random.default_rng(5).choice(len(firms), size=n_distinct + n_q, replace=False)
    sub = firms.iloc[pick_rows]
    log(f"5/5 embedding {len(sub):,} simulated firms with the bundle's ProfileEmbedder")
    t = time.perf_counter()
    vecs = matcher.embedder.embed_firms(
        list(sub[S.DESCRIPTION].fillna("")),
        list(sub[S.INDUSTRY_CODE]),
        [list(p) for p in sub[S.CHAIN_PARTNER_CODES]],
    )
    embed_s = time.perf_counter() - t
    base, queries = np.ascontiguousarray(vecs[:n_distinct]), np.ascontiguousarray(vecs[n_distinct:])
    d = base.shape[1]
    x = synth_vectors(base, n, sigma_norm / math.sqrt(d), seed=11)
    distinct = len(np.unique(x.view(np.dtype((np.void, x.dtype.itemsize * d))).ravel()))
    out: dict[str, Any] = {
        "n_vectors": n,
        "dim": d,
        "distinct_vectors": distinct,
        "embedded_firms": len(sub),
        "embed_firms_per_s": len(sub) / embed_s,
        "construction": f"{n_distinct:,} embedded firms tiled to {n:,} rows, "
        f"N(0, ({sigma_norm}/sqrt(d))²) noise per component, renormalised; "
        f"{n_q} held-out firms as queries",
        "threads": faiss.omp_get_max_threads(),
    }

    log(f"5/5 exact IndexFlatIP over {n:,} vectors")
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(x)
    flat_build = time.perf_counter() - t
    flat_batch, truth = _time_batch(lambda q: flat.search(q, k), queries, repeats=2)
    flat_single = _time_single(lambda q: flat.search(q, k), queries[: 30 if ctx.quick else 50])
    exact_qps = n_q / flat_batch
    out["flat"] = {
        "build_s": flat_build,
        "batch_s": flat_batch,
        "qps": exact_qps,
        "per_query_ms_batch": 1000 * flat_batch / n_q,
        "single": flat_single,
    }

    # Peer: scikit-learn brute force (cosine) on a subsample of the queries.
    from sklearn.neighbors import NearestNeighbors

    n_sk = 100 if ctx.quick else 200
    log(f"5/5 sklearn NearestNeighbors brute on {n_sk} queries")
    t = time.perf_counter()
    sk = NearestNeighbors(algorithm="brute", metric="cosine").fit(x)
    sk_fit = time.perf_counter() - t
    t = time.perf_counter()
    sk.kneighbors(queries[:n_sk], n_neighbors=k)
    sk_batch = time.perf_counter() - t
    sk_single = _time_single(lambda q: sk.kneighbors(q, n_neighbors=k), queries[:10])
    sk_qps = n_sk / sk_batch
    out["sklearn_brute"] = {
        "fit_s": sk_fit,
        "queries": n_sk,
        "batch_s": sk_batch,
        "qps": sk_qps,
        "single": sk_single,
    }

    def sweep(index: Any, set_param: Callable[[int], None], values: Sequence[int]) -> list[dict[str, float]]:
        rows = []
        for v in values:
            set_param(v)
            bt, ids = _time_batch(lambda q: index.search(q, k), queries, repeats=2)
            rows.append(
                {
                    "param": v,
                    "recall@10": recall_at(ids, truth, k),
                    "qps": n_q / bt,
                    "per_query_ms_batch": 1000 * bt / n_q,
                }
            )
        return rows

    def choose(rows: list[dict[str, float]]) -> dict[str, float]:
        ok = [
            r for r in rows if r["recall@10"] >= TARGET_RECALL and r["qps"] >= TARGET_ANN_SPEEDUP * exact_qps
        ]
        if ok:
            return ok[0]
        ok = [r for r in rows if r["recall@10"] >= TARGET_RECALL]
        return max(ok, key=lambda r: r["qps"]) if ok else max(rows, key=lambda r: r["recall@10"])

    # IVF: k-means on a 50×nlist sample with 10 iterations (full-data 25-iteration k-means costs
    # minutes on 2 cores and buys no recall at these nprobe values).
    log(f"5/5 IVF nlist={nlist}")
    t = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10
    ivf.cp.seed = 0
    train_rows = np.random.default_rng(13).choice(n, size=min(n, 50 * nlist), replace=False)
    ivf.train(x[np.sort(train_rows)])
    ivf.add(x)
    ivf_build = time.perf_counter() - t

    def set_nprobe(v: int) -> None:
        ivf.nprobe = v

    ivf_sweep = sweep(ivf, set_nprobe, [1, 2, 4, 8, 16, 32, 64, 128])
    ivf_best = choose(ivf_sweep)
    set_nprobe(int(ivf_best["param"]))
    ivf_single = _time_single(lambda q: ivf.search(q, k), queries[:300])
    out["ivf"] = {
        "nlist": nlist,
        "train_rows": len(train_rows),
        "build_s": ivf_build,
        "sweep": ivf_sweep,
        "chosen": ivf_best,
        "single": ivf_single,
    }

    log(f"5/5 HNSW M=32 over {n:,} vectors (the slow build)")
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(x)
    hnsw_build = time.perf_counter() - t

    def set_ef(v: int) -> None:
        hnsw.hnsw.efSearch = v

    hnsw_sweep = sweep(hnsw, set_ef, [16, 32, 64, 128, 256])
    hnsw_best = choose(hnsw_sweep)
    set_ef(int(hnsw_best["param"]))
    hnsw_single = _time_single(lambda q: hnsw.search(q, k), queries[:300])
    out["hnsw"] = {
        "M": 32,
        "efConstruction": 40,
        "build_s": hnsw_build,
        "sweep": hnsw_sweep,
        "chosen": hnsw_best,
        "single": hnsw_single,
    }
    out["load"] = load_now()
    ctx.results["retrieval"] = out

    size = f"{n:,} vectors"
    r = ratio(exact_qps, sk_qps, True)
    ctx.rows.append(
        Row(
            sec,
            f"exact FAISS flat, {size}: queries/s (batch 1k)",
            exact_qps,
            sk_qps,
            "/s",
            r,
            "",
            None,
            f"peer on {n_sk} queries",
        )
    )
    r = ratio(flat_single["median_ms"], sk_single["median_ms"], False)
    ctx.rows.append(
        Row(
            sec,
            "exact FAISS flat: single query median",
            flat_single["median_ms"],
            sk_single["median_ms"],
            "ms",
            r,
        )
    )
    for name, best, single, build, param in (
        ("IVF", ivf_best, ivf_single, ivf_build, f"nlist={nlist}, nprobe={int(ivf_best['param'])}"),
        ("HNSW", hnsw_best, hnsw_single, hnsw_build, f"M=32, efSearch={int(hnsw_best['param'])}"),
    ):
        speedup = best["qps"] / exact_qps
        rec_ok = best["recall@10"] >= TARGET_RECALL
        r = ratio(best["qps"], sk_qps, True)
        ctx.rows.append(
            Row(
                sec,
                f"{name} ({param}): recall@10",
                best["recall@10"],
                1.0,
                "",
                None,
                f"≥{TARGET_RECALL}",
                rec_ok,
            )
        )
        ctx.rows.append(
            Row(
                sec,
                f"{name}: queries/s (batch 1k)",
                best["qps"],
                sk_qps,
                "/s",
                r,
                f"≥{TARGET_ANN_SPEEDUP:.0f}× exact, ≥{TARGET_RATIO:.0f}× peer",
                speedup >= TARGET_ANN_SPEEDUP and r is not None and r >= TARGET_RATIO,
                f"{speedup:.1f}× exact FAISS",
            )
        )
        r = ratio(1000 * n_q / best["qps"] / n_q, 1000 * n_sk / sk_qps / n_sk, False)
        ctx.rows.append(
            Row(sec, f"{name}: per query in batch", 1000.0 / best["qps"], 1000.0 / sk_qps, "ms", r)
        )
        r = ratio(single["median_ms"], sk_single["median_ms"], False)
        ctx.rows.append(
            Row(
                sec,
                f"{name}: single query median",
                single["median_ms"],
                sk_single["median_ms"],
                "ms",
                r,
                f"≥{TARGET_RATIO:.0f}× peer",
                r is not None and r >= TARGET_RATIO,
            )
        )
        ctx.rows.append(
            Row(sec, f"{name}: build", build, flat_build, "s", None, "", None, "peer column: exact flat add")
        )


# --- driver ---------------------------------------------------------------------------------


def _public(results: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in results.items() if not k.startswith("_")}


def _document(doc: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The JSON document: run metadata, every section's results, the table rows and notes."""
    return {
        **doc,
        "results": _public(ctx.results),
        "rows": [r.as_dict() for r in ctx.rows],
        "notes": ctx.notes,
    }


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


SECTIONS = ("single", "http", "isolation", "soak", "audit", "batch", "training", "retrieval", "leads")


def cli_bench(
    settings: BenchConfig, quick: bool, json_out: Path | None, only: Sequence[str] | None = None
) -> int:
    t0 = time.perf_counter()
    info = machine_info()
    log(
        f"{'quick' if quick else 'full'} run on {info['cpu_model']} ({info['logical_cores']} cores, "
        f"{info['memory_gib']} GiB); load {info['load_average_at_start']}"
    )
    ctx = setup(settings, quick)
    if json_out is None and not quick:
        json_out = Path("bench.json")
    doc: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "machine": info,
        "model_dir": str(ctx.model_dir),
        "world_dir": str(ctx.world_dir),
    }
    from benchmarks.leads import bench_leads

    sections: list[tuple[str, Callable[[Context], None]]] = [
        ("single", bench_single),
        ("http", bench_http),
        ("isolation", bench_isolation),
        ("soak", bench_soak),
        ("audit", bench_audit),
        ("batch", bench_batch),
        ("training", bench_training),
        ("retrieval", bench_retrieval),
        ("leads", bench_leads),
    ]
    if only:
        unknown = set(only) - set(SECTIONS)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ValueError(f"unknown bench section(s) {names}; use {', '.join(SECTIONS)}")
        sections = [(name, fn) for name, fn in sections if name in only]
    for name, fn in sections:
        ts = time.perf_counter()
        try:
            fn(ctx)
        except Exception as exc:  # one broken section must not lose the others' figures
            log(f"section {name} failed: {type(exc).__name__}: {exc}")
            ctx.results[name] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
            ctx.rows.append(Row(name, "section", "failed", note=f"{type(exc).__name__}: {exc}"[:100]))
        ctx.results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - ts, 1)
        log(f"section {name} done in {time.perf_counter() - ts:.1f}s (load {load_now()})")
        if json_out is not None:  # after every section, so an interrupted run keeps its figures
            _write_json(json_out, _document(doc, ctx))
    doc["seconds_total"] = round(time.perf_counter() - t0, 1)
    doc["load_average_at_end"] = load_now()
    print(
        f"parkmatch bench ({doc['mode']}) — {info['date']} — {info['cpu_model']}, "
        f"{info['logical_cores']} cores, {info['memory_gib']} GiB"
    )
    print(f"model {ctx.model_dir}; world {ctx.world_dir}; ratios are 'times better than the naive peer'")
    print(format_table(ctx.rows))
    for note in ctx.notes:
        print(f"note: {note}")
    print(f"total {doc['seconds_total']:.0f} s")
    if json_out is not None:
        _write_json(json_out, {**_document(doc, ctx), "markdown": markdown_table(ctx.rows)})
        print(f"JSON written to {json_out}")
    return 0

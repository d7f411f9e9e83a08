"""The compiled ranker scores, ranks and explains exactly as LightGBM does, and its cache is
verified or rebuilt, never trusted."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import schemas as S
from matcher import compiled as C
from matcher.core import Matcher
from matcher.ranker import ParkRanker
from training.synth import World

N_FEATURES = 8
GROUP = 30


def _data(groups: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lists of GROUP candidates with a categorical column, missing values and exact zeros."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(groups * GROUP, N_FEATURES))
    x[:, 0] = rng.integers(0, 6, size=len(x))  # categorical
    x[:, 1] = np.where(rng.random(len(x)) < 0.3, 0.0, x[:, 1])
    x[rng.random(x.shape) < 0.08] = np.nan
    x[:, 0] = np.where(np.isnan(x[:, 0]), 0, x[:, 0])
    signal = np.nan_to_num(x[:, 2]) + 0.5 * (x[:, 0] == 3) - np.nan_to_num(x[:, 3]) ** 2
    y = np.clip(np.round(signal + rng.normal(scale=0.3, size=len(x))), 0, 3).astype(int)
    return x, y, np.full(groups, GROUP)


@pytest.fixture(scope="module")
def ranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = tuple(f"f{i}" for i in range(N_FEATURES))
    x, y, group = _data(120, 0)
    ranker = ParkRanker(
        feature_names=names,
        groups={n: ("a" if i < 4 else "b") for i, n in enumerate(names)},
        categorical=("f0",),
        n_estimators=40,
        num_leaves=15,
        min_child_samples=10,
        num_threads=1,
    ).fit(x, y, group)
    d = tmp_path_factory.mktemp("ranker") / "bundle"
    d.mkdir()
    ranker.save(d)
    return d


def test_compiled_scores_leaves_and_contributions_equal_lightgbm(ranker_dir: Path) -> None:
    fast = ParkRanker.load(ranker_dir)
    slow = ParkRanker.load(ranker_dir, compiled=False)
    assert (fast.engine, slow.engine) == ("compiled", "lightgbm")
    x, _, _ = _data(1000, 1)  # 1,000 lists of candidates
    x[:5, 4] = 1e-36  # below LightGBM's zero threshold: read as 0 by both
    a, b = fast.predict(x), slow.predict(x)
    assert np.max(np.abs(a - b)) < 1e-12
    ra = np.argsort(-a.reshape(-1, GROUP), axis=1, kind="stable")
    rb = np.argsort(-b.reshape(-1, GROUP), axis=1, kind="stable")
    assert np.array_equal(ra, rb)
    assert np.array_equal(fast.leaves(x), slow.leaves(x))
    ca, cb = fast.contributions(x[:500]), slow.contributions(x[:500])
    assert np.allclose(ca, cb, rtol=0, atol=1e-12)
    assert np.allclose(ca.sum(axis=1) + fast.contrib_bias_, a[:500], atol=1e-9)
    # the threaded path gives the same scores as one thread
    assert np.array_equal(fast.predict(x, num_threads=2), fast.predict(x, num_threads=1))


def test_contributions_are_the_same_bits_in_blocks_and_gathered(
    ranker_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks bound a batch chunk's memory and a request's few rows are gathered instead of
    multiplied: neither may change a bit of what the reasons are read from."""
    from matcher import ranker as R

    fast = ParkRanker.load(ranker_dir)
    x, _, _ = _data(300, 2)  # 3,000 rows
    whole = fast.contributions(x)
    monkeypatch.setattr(R, "CONTRIB_BLOCK_ROWS", 7)
    assert np.array_equal(fast.contributions(x), whole)
    monkeypatch.setattr(R, "GATHER_CONTRIB_MAX_ROWS", 0)  # every block through the sparse product
    assert np.array_equal(fast.contributions(x), whole)
    monkeypatch.setattr(R, "GATHER_CONTRIB_MAX_ROWS", 10)  # every block gathered
    assert np.array_equal(fast.contributions(x), whole)
    assert fast.contributions(x[:0]).shape == (0, len(fast.contrib_groups_))


def test_leaf_finder_packs_and_decodes_every_tree(ranker_dir: Path) -> None:
    text = ParkRanker.load(ranker_dir, compiled=False).booster_.model_to_string()
    finder, outputs, n_trees = C.leaf_finder_text(text)
    assert n_trees == 40 and outputs == -(-40 // (C.MANTISSA_BITS // C.leaf_bits(15)))
    assert finder.count("\nTree=") == outputs * -(-n_trees // outputs)
    packed = np.array([[3 + 5 * 16, 14]], dtype=np.float64)
    assert C.decode_leaves(packed, 2, 4, 4).tolist() == [[3, 14, 5, 0]]


def test_cache_is_reused_verified_and_rebuilt(ranker_dir: Path, tmp_path: Path) -> None:
    ranker = ParkRanker.load(ranker_dir, compiled=False)
    booster = ranker.booster_
    text = booster.model_to_string()
    cache = tmp_path / "cache"
    first = C.compile_forest(text, booster, cache)
    again = C.compile_forest(text, booster, cache)
    assert first is not None and again is not None
    assert (first.source, again.source) == ("compiled", "cache")
    (slot,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    obj = slot / "scorer.o"
    obj.write_bytes(obj.read_bytes()[:-16] + b"\0" * 16)  # a changed object is not loaded
    rebuilt = C.compile_forest(text, booster, cache)
    assert rebuilt is not None and rebuilt.source == "compiled"
    x, _, _ = _data(20, 2)
    assert np.max(np.abs(rebuilt.predict(x, 1) - booster.predict(x))) < 1e-12
    assert C.compile_forest(text, booster, cache) is not None  # the rebuilt copy verifies


def test_compile_failure_falls_back_to_lightgbm_and_says_so(
    ranker_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(C, "_compile_one", broken)
    monkeypatch.setattr("matcher.ranker.cache_dir_for", lambda _p: tmp_path / "nowhere")
    with caplog.at_level(logging.WARNING, logger="matcher.compiled"):
        ranker = ParkRanker.load(ranker_dir)
    assert ranker.engine == "lightgbm"
    assert "scoring with LightGBM" in caplog.text
    x, _, _ = _data(10, 3)
    assert np.array_equal(ranker.predict(x), ParkRanker.load(ranker_dir, compiled=False).predict(x))


@pytest.mark.slow
def test_matcher_recommendations_equal_with_and_without_compiling(
    bundle_path: Path, matcher: Matcher, small_world: tuple[World, object]
) -> None:
    """1,000 firms through the whole path: same parks, order, scores and reasons."""
    assert matcher.ranker.engine == "compiled"
    plain = Matcher.load(bundle_path, compiled=False)
    firms = small_world[0].firms.sample(n=1000, random_state=7)[list(S.FIRM_COLUMNS)].reset_index(drop=True)
    a, _ = matcher.recommend_frame(firms, top=10)
    b, _ = plain.recommend_frame(firms, top=10)
    pd.testing.assert_frame_equal(a, b)

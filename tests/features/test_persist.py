"""Every learned stage saves and loads all of its parameters, not just its learned state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.embeddings import IndustryEmbedder, IndustryInferer, ProfileEmbedder, TextEmbedder
from features.history import ArrivalHistory
from features.persist import init_params
from features.towers import PreferenceTower
from matcher.core import Matcher
from matcher.ranker import ParkRanker
from matcher.retrieval import VectorIndex

TEXTS = [
    "化学原料药的研发与生产",
    "冷链仓储物流配送",
    "软件开发与信息技术服务",
    "汽车零部件制造",
    "批发市场商户",
] * 4


def roundtrip(stage: object, tmp: Path) -> object:
    tmp.mkdir(parents=True, exist_ok=True)
    files = stage.save(tmp)  # type: ignore[attr-defined]
    assert files and all(Path(f).exists() for f in files)
    loaded = type(stage).load(tmp)  # type: ignore[attr-defined]
    assert init_params(loaded) == init_params(stage)
    return loaded


def test_text_embedder_keeps_non_default_parameters(tmp_path: Path) -> None:
    stage = TextEmbedder(dim=8, ngram_range=(1, 2), max_features=500, seed=3).fit(TEXTS)
    loaded = roundtrip(stage, tmp_path)
    np.testing.assert_allclose(loaded.transform(TEXTS[:3]), stage.transform(TEXTS[:3]))  # type: ignore[attr-defined]


def test_industry_embedder_keeps_its_weights(tmp_path: Path) -> None:
    stage = IndustryEmbedder(dim=12, w_io=0.5, seed=2).fit()
    loaded = roundtrip(stage, tmp_path)
    np.testing.assert_allclose(loaded.transform(["2710", "5990"]), stage.transform(["2710", "5990"]))  # type: ignore[attr-defined]


def test_industry_inferer_keeps_its_parameters(tmp_path: Path) -> None:
    stage = IndustryInferer(ngram_range=(1, 2), max_examples_per_code=5, seed=4).fit(
        TEXTS, ["2710", "5990", "6511", "3670", "5132"] * 4
    )
    loaded = roundtrip(stage, tmp_path)
    assert loaded.predict(TEXTS[:5]) == stage.predict(TEXTS[:5])  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_vector_index_keeps_nlist_nprobe_and_seed(kind: str, tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    stage = VectorIndex(index_type=kind, nlist=8, nprobe=3, hnsw_m=8, ef_search=20, seed=5).fit(x)
    loaded = roundtrip(stage, tmp_path)
    assert loaded.index_type == kind  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loaded.search(x[:10], 5)[1], stage.search(x[:10], 5)[1])  # type: ignore[attr-defined]


def test_the_bundles_stages_round_trip(matcher: Matcher, tmp_path: Path) -> None:
    stages: list[object] = [matcher.embedder, matcher.ranker, matcher.inferer]
    stages += [s for s in (matcher.tower, matcher.history) if s is not None]
    for i, stage in enumerate(stages):
        assert isinstance(
            stage, ProfileEmbedder | ParkRanker | IndustryInferer | PreferenceTower | ArrivalHistory
        )
        roundtrip(stage, tmp_path / str(i))

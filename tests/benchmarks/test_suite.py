"""The bench's pure helpers and its naive peer's feature code (no timings asserted)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.suite import (
    Row,
    fmt_num,
    fmt_ratio,
    format_table,
    latency_summary,
    markdown_table,
    peer_feasible,
    peer_pair_features,
    percentile,
    pick,
    ratio,
    recall_at,
    synth_vectors,
)
from features import schemas as S
from features.pairs import FEATURE_NAMES, FirmArrays, ParkArrays, pair_features
from features.reference import load_parks
from features.validation import Priors, columns_from_records, prepare
from matcher.core import Matcher
from training.synth import World

FIRMS = [
    {
        "firm_id": "A",
        "name": "北京某制药有限公司",
        "description": "化学药品制剂制造",
        "industry_code": "2720",
        "origin_district": "大兴区",
        "functions": ["production"],
        "employees": 300,
        "land_need_mu": 50.0,
        "floor_area_need_m2": 8000.0,
        "revenue_cny_10k": 20000.0,
        "talent_level": 0.6,
        "beijing_ties": 0.4,
        "max_distance_km": 300.0,
        "needs_port": False,
        "pollution_level": "medium",
        "subsidy_priorities": ["land", "tax"],
        "chain_partner_codes": ["2710", "51"],
    },
    {
        "firm_id": "B",
        "name": "北京某物流有限公司",
        "description": "仓储 道路货物运输",
        "industry_code": "5990",
        "origin_district": "朝阳区",
        "functions": ["logistics", "wholesale"],
        "employees": 80,
        "land_need_mu": 20.0,
        "floor_area_need_m2": 3000.0,
        "revenue_cny_10k": 5000.0,
        "talent_level": 0.2,
        "beijing_ties": 0.8,
        "max_distance_km": 150.0,
        "needs_port": True,
        "pollution_level": "low",
        "subsidy_priorities": [],
        "chain_partner_codes": [],
    },
    {
        "firm_id": "C",
        "name": "北京某软件有限公司",
        "description": "软件开发",
        "industry_code": "65",
        "origin_district": None,
        "functions": ["back_office"],
        "employees": 40,
        "land_need_mu": 0.0,
        "floor_area_need_m2": 600.0,
        "revenue_cny_10k": 800.0,
        "talent_level": 0.9,
        "beijing_ties": 0.95,
        "max_distance_km": 120.0,
        "needs_port": False,
        "pollution_level": "low",
        "subsidy_priorities": ["talent", "rnd", "rent"],
        "chain_partner_codes": ["64"],
    },
]


def test_percentile_and_latency_summary() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3.0
    assert math.isnan(percentile([], 50))
    s = latency_summary([0.001] * 99 + [0.1])
    assert s["n"] == 100
    assert s["median_ms"] == pytest.approx(1.0)
    assert s["p99_ms"] > s["median_ms"]


def test_ratio_and_formatting() -> None:
    assert ratio(2.0, 10.0, higher_is_better=False) == pytest.approx(5.0)
    assert ratio(500.0, 100.0, higher_is_better=True) == pytest.approx(5.0)
    assert ratio(None, 1.0, True) is None
    assert ratio(0.0, 1.0, False) is None
    assert ratio(float("nan"), 1.0, True) is None
    assert fmt_ratio(None) == "n/a"
    assert fmt_ratio(5.04) == "5.0×"
    assert fmt_ratio(1234.0) == "1234×"
    assert fmt_num(None) == "n/a"
    assert fmt_num(12345.6, "/s") == "12,346 /s"
    assert fmt_num(0.01234, "ms") == "0.0123 ms"
    assert fmt_num("not available") == "not available"
    assert pick({"p50_ms": 3, "x": "y"}, "p50", "p50_ms") == 3.0
    assert pick({"errors": True}, "errors") is None
    assert pick(None, "a") is None


def test_tables_have_one_line_per_row() -> None:
    rows = [Row("1", "median", 2.0, 10.0, "ms", 5.0, "≥5×", True), Row("2", "http", "not available")]
    text = format_table(rows)
    assert len(text.splitlines()) == 4
    assert "5.0×" in text and "not available" in text
    assert len(markdown_table(rows).splitlines()) == 4


def test_peer_features_agree_with_vectorised_features() -> None:
    parks = load_parks()
    positions = [0, 5, len(parks) - 1]
    sims = [0.9, 0.5, 0.1]
    batch, errors = prepare(columns_from_records(FIRMS), Priors.bundled(), None)
    assert not errors
    pa = ParkArrays.build(parks)
    x = pair_features(
        FirmArrays.build(batch, pa),
        pa,
        np.array([positions] * 3),
        np.array([sims] * 3, dtype=np.float32),
        None,
        np.full(3, 2025),
    )
    for i, firm in enumerate(FIRMS):
        df = peer_pair_features(firm, parks, positions, sims)
        assert isinstance(df, pd.DataFrame)
        assert df.shape == (3, len(FEATURE_NAMES))
        assert list(df.columns) == list(FEATURE_NAMES)
        # Same formulas as the vectorised code, for every feature the peer knows (a feature
        # added to FEATURE_NAMES later shows as NaN in the peer's frame, not as a failure here).
        known = [j for j, name in enumerate(FEATURE_NAMES) if df[name].notna().all()]
        assert len(known) >= 30
        np.testing.assert_allclose(df.to_numpy(np.float32)[:, known], x[i][:, known], rtol=1e-4, atol=1e-3)


def test_peer_feasibility_matches_port_rule() -> None:
    parks = load_parks()
    inland = parks[~parks[S.PORT_ACCESS].astype(bool)].iloc[0]
    assert not peer_feasible(FIRMS[1], inland)


def test_synth_vectors_and_recall() -> None:
    base = np.eye(4, dtype=np.float32)
    x = synth_vectors(base, 10, 0.01, seed=0)
    assert x.shape == (10, 4)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    assert len({row.tobytes() for row in x}) == 10
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at(truth, truth, 3) == 1.0
    assert recall_at(np.array([[1, 9, 9], [4, 5, 9]]), truth, 3) == pytest.approx(0.5)


def test_the_naive_peer_fits_on_a_catalogue_with_unknown_columns(
    matcher: Matcher, small_world: tuple[World, object]
) -> None:
    """Available land is unknown for every park, so its features are all NaN; the peer must
    still fit and rank (scikit-learn's binning refuses a column without one value)."""
    from benchmarks.suite import NaivePeer, firm_records

    world, _ = small_world
    parks = matcher.parks
    assert parks[S.AVAILABLE_LAND_MU].isna().all()
    events = world.events.head(40)
    by_id = world.firms.set_index(S.FIRM_ID, drop=False)
    records = firm_records(by_id.loc[events[S.FIRM_ID].to_numpy()].reset_index(drop=True), 40, seed=0)
    order = {r[S.FIRM_ID]: i for i, r in enumerate(records)}
    records = [records[order[f]] for f in events[S.FIRM_ID]]
    peer = NaivePeer(matcher.embedder, parks, matcher.embedder.embed_parks(parks), candidates=20)
    peer.fit(records, list(events[S.CHOSEN_PARK_ID]), [list(s) for s in events[S.SHORTLIST_PARK_IDS]])
    assert "land_ratio_log" not in peer.columns_
    ranked = peer.recommend(records[0])
    assert len(ranked) == 10 and len({p for p, _ in ranked}) == 10

"""Properties of the simulated relocation history, checked on the written files (not internals)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import schemas as S
from features.reference import load_parks
from training.synth import INFEASIBLE, cli_synth, load_world, oracle_scores, simulate, write_world

N = 12_000
SEED = 11


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(simulate(N, SEED), out)
    return out


@pytest.fixture(scope="module")
def parks() -> pd.DataFrame:
    return load_parks().set_index(S.PARK_ID)


@pytest.fixture(scope="module")
def moves(world_dir: Path, parks: pd.DataFrame) -> pd.DataFrame:
    firms = pq.read_table(world_dir / "firms.parquet").to_pandas().set_index(S.FIRM_ID)
    ev = pq.read_table(world_dir / "events.parquet").to_pandas().join(firms, on=S.FIRM_ID)
    p = parks.reindex(ev[S.CHOSEN_PARK_ID])
    ev["park_codes"] = p[S.INDUSTRY_CODES].to_numpy()
    ev["park_km"] = p[S.DISTANCE_KM].to_numpy()
    ev["tongzhou"] = ((p[S.PROVINCE] == "北京市") & (p[S.COUNTY] == "通州区")).to_numpy()
    return ev


def _digest(d: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir())}


def test_files_and_columns(world_dir: Path) -> None:
    assert {"firms.parquet", "events.parquet", "truth.json", "latent.parquet"} <= {
        f.name for f in world_dir.iterdir()
    }
    firms = pq.read_table(world_dir / "firms.parquet")
    assert set(S.FIRM_COLUMNS) <= set(firms.column_names)
    for col in S.FIRM_LIST_COLUMNS:
        typ = firms.schema.field(col).type
        assert pa.types.is_list(typ) and pa.types.is_string(typ.value_type)
    assert firms.num_rows == N
    events = pq.read_table(world_dir / "events.parquet").to_pandas()
    assert list(events.columns) == [S.EVENT_ID, S.FIRM_ID, S.YEAR, S.CHOSEN_PARK_ID, S.SHORTLIST_PARK_IDS]
    assert events[S.YEAR].between(2014, 2024).all()
    sizes = events[S.SHORTLIST_PARK_IDS].map(len)
    assert sizes.between(2, 6).all()
    assert all(
        c in set(s) for c, s in zip(events[S.CHOSEN_PARK_ID], events[S.SHORTLIST_PARK_IDS], strict=True)
    )
    assert events[S.FIRM_ID].is_unique
    truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == SEED and truth["n_firms"] == N and truth["capacity"]["scale"] > 0


def test_firms_are_valid_profiles(world_dir: Path) -> None:
    w = load_world(world_dir)
    rows = w.firms[list(S.FIRM_COLUMNS)].sample(300, random_state=0).to_dict("records")
    for row in rows:
        S.FirmProfile.model_validate(row)
    assert w.firms[S.NAME].str.contains("北京").mean() > 0.9
    assert w.firms[S.DESCRIPTION].nunique() > 0.5 * N  # varied templates, not one sentence per code
    assert (w.firms[S.CHAIN_PARTNER_CODES].map(len) > 0).mean() > 0.1
    emp = w.firms[S.EMPLOYEES]
    assert emp.max() > 20 * emp.median()  # heavy tail


def test_district_mix_follows_published_counts(world_dir: Path) -> None:
    from features.reference import beijing_districts

    firms = pq.read_table(world_dir / "firms.parquet", columns=[S.ORIGIN_DISTRICT]).to_pandas()
    d = beijing_districts().set_index("district")["legal_entity_units"]
    expected = d / d.sum()
    observed = firms[S.ORIGIN_DISTRICT].value_counts(normalize=True).reindex(expected.index).fillna(0)
    assert (observed - expected).abs().max() < 0.02


def test_pharma_lands_in_pharma_parks(moves: pd.DataFrame) -> None:
    pharma = moves[moves[S.INDUSTRY_CODE].str.startswith("27")]
    assert len(pharma) >= 30
    share = pharma["park_codes"].map(lambda codes: any(c.startswith("27") for c in codes)).mean()
    assert share > 0.7


def test_land_hungry_manufacturers_avoid_tongzhou(moves: pd.DataFrame) -> None:
    div = moves[S.INDUSTRY_CODE].str[:2].astype(int)
    manu = moves[div.between(13, 43)]
    hungry = manu[manu[S.LAND_NEED_MU] >= 20]
    assert len(hungry) >= 50
    assert hungry["tongzhou"].mean() < 0.03
    assert moves["tongzhou"].mean() > 2 * hungry["tongzhou"].mean()  # Tongzhou does take other movers


def test_single_purpose_sites_receive_only_the_functions_they_take(
    moves: pd.DataFrame, parks: pd.DataFrame
) -> None:
    """No simulated hospital or factory signs with a clothing market or a data centre base."""
    from features.pairs import purpose_mask

    kinds, designated = parks[S.PLATFORM_TYPE], parks[S.DESIGNATED_FUNCTIONS]
    accepts = {pid: purpose_mask(kinds[pid], designated[pid]) for pid in parks.index}
    mask = moves[S.FUNCTIONS_COL].map(lambda fns: sum(1 << S.FUNCTIONS.index(f) for f in fns))
    site = moves[S.CHOSEN_PARK_ID].map(accepts)
    into = site != 0
    assert into.sum() >= 100  # markets, hubs and bases do receive firms
    assert ((mask[into] & site[into]) != 0).all()


def test_themed_towns_receive_only_their_theme(moves: pd.DataFrame, parks: pd.DataFrame) -> None:
    """No simulated software firm or headquarters signs with 环球度假区 or 宋庄's art town, so the
    ranker never learns that the 副中心's precedents lift them for any trade."""
    from features.pairs import theme_allows, theme_codes

    themes = dict(zip(parks.index, theme_codes(parks.reset_index()), strict=True))
    towns = {pid for pid in parks.index if parks.loc[pid, S.PLATFORM_TYPE] == "theme_town"}
    assert towns
    into = moves[moves[S.CHOSEN_PARK_ID].isin(towns)]
    assert all(
        theme_allows(code, themes[pid])
        for code, pid in zip(into[S.INDUSTRY_CODE], into[S.CHOSEN_PARK_ID], strict=True)
    )
    # the same world does send trades the towns refuse to the 副中心's other parks
    others = moves[moves["tongzhou"] & ~moves[S.CHOSEN_PARK_ID].isin(towns)]
    assert sum(not theme_allows(code, themes["BJ004"]) for code in others[S.INDUSTRY_CODE]) >= 10


def test_no_data_centre_moved_alone_may_choose_a_beijing_park(world_dir: Path, parks: pd.DataFrame) -> None:
    """Beijing bans new data centres city-wide: in the simulator a data centre moved on its own
    cannot choose any park in Beijing, while the same firms moving R&D as well can."""
    from training.synth import INFEASIBLE, load_world, oracle_scores

    world = load_world(world_dir)
    firms = world.firms.reset_index(drop=True)
    alone = np.flatnonzero(
        firms[S.FUNCTIONS_COL].map(lambda f: list(f) == ["data_center"]).to_numpy()
        & (firms[S.MAX_DISTANCE_KM] >= 60).to_numpy()
    )[:50]
    assert len(alone) >= 10
    catalogue = parks.reset_index()
    beijing = np.flatnonzero((catalogue[S.PROVINCE] == "北京市").to_numpy())
    f_rows, p_rows = np.repeat(alone, len(beijing)), np.tile(beijing, len(alone))
    assert (oracle_scores(world.truth, firms, catalogue, f_rows, p_rows) == INFEASIBLE).all()
    mixed = firms.copy()
    mixed[S.FUNCTIONS_COL] = [["rnd", "data_center"]] * len(mixed)
    assert (oracle_scores(world.truth, mixed, catalogue, f_rows, p_rows) > INFEASIBLE).any()


def test_data_centres_moved_alone_look_farther(world_dir: Path) -> None:
    """A data centre moved on its own is drawn loose ties (features.validation.DATA_CENTRE_TIES)
    and so a longer reach than the offices of its own division."""
    firms = pq.read_table(world_dir / "firms.parquet").to_pandas()
    net = firms[firms[S.INDUSTRY_CODE].str[:2].isin(["64", "65"])]
    alone = net[S.FUNCTIONS_COL].map(lambda f: list(f) == ["data_center"])
    assert alone.sum() >= 20 and (~alone).sum() >= 20
    assert net.loc[alone, S.BEIJING_TIES].mean() < net.loc[~alone, S.BEIJING_TIES].mean() - 0.2
    assert net.loc[alone, S.MAX_DISTANCE_KM].median() > 1.5 * net.loc[~alone, S.MAX_DISTANCE_KM].median()


def test_beijing_ties_shorten_moves(moves: pd.DataFrame) -> None:
    lo, hi = moves[S.BEIJING_TIES].quantile([0.25, 0.75])
    near = moves.loc[moves[S.BEIJING_TIES] >= hi, "park_km"].mean()
    far = moves.loc[moves[S.BEIJING_TIES] <= lo, "park_km"].mean()
    assert near < 0.8 * far


def test_firms_that_should_stay_mostly_stay(world_dir: Path) -> None:
    firms = pq.read_table(world_dir / "firms.parquet", columns=[S.INDUSTRY_CODE, "relocates"]).to_pandas()
    div = firms[S.INDUSTRY_CODE].str[:2]
    stayers = firms[div.isin(["65", "66", "67", "86", "87", "88"])]["relocates"].mean()
    movers = firms[div.isin(["51", "59", "18", "21", "30"])]["relocates"].mean()
    assert stayers < 0.05 and movers > 0.2


def test_no_park_over_capacity(world_dir: Path) -> None:
    truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
    cap = pd.Series(truth["capacity"]["per_park"])
    events = pq.read_table(world_dir / "events.parquet").to_pandas()
    taken = events.groupby([S.YEAR, S.CHOSEN_PARK_ID]).size()
    limit = cap.reindex(taken.index.get_level_values(1)).to_numpy()
    assert (taken.to_numpy() <= limit).all()
    assert (taken.to_numpy() == limit).any()  # capacity actually binds somewhere


def test_shocks_respect_opening_years(world_dir: Path) -> None:
    truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
    events = pq.read_table(world_dir / "events.parquet").to_pandas()
    xiongan = set(truth["shock_parks"]["xiongan"])
    assert xiongan, "catalogue should contain Xiong'an parks"
    into = events[events[S.CHOSEN_PARK_ID].isin(xiongan)]
    assert len(into) > 0 and (into[S.YEAR] >= 2017).all()


def test_oracle_prefers_chosen_parks(world_dir: Path) -> None:
    w = load_world(world_dir)
    parks = load_parks()
    ev = w.events.head(400)
    frow = w.firms.reset_index().set_index(S.FIRM_ID)["index"].reindex(ev[S.FIRM_ID]).to_numpy()
    P = len(parks)
    f = np.repeat(frow, P)
    p = np.tile(np.arange(P), len(frow))
    score = oracle_scores(w, w.firms, parks, f, p).reshape(len(frow), P)
    pos = {pid: j for j, pid in enumerate(parks[S.PARK_ID])}
    chosen = ev[S.CHOSEN_PARK_ID].map(pos).to_numpy()
    chosen_score = score[np.arange(len(frow)), chosen]
    assert (chosen_score > INFEASIBLE).all()
    feasible = score > INFEASIBLE
    pct = ((score < chosen_score[:, None]) & feasible).sum(1) / np.maximum(feasible.sum(1) - 1, 1)
    assert pct.mean() > 0.8  # chosen park sits near the top of the oracle's ranking
    # the truth-only oracle (median tastes, no path dependence) still agrees broadly
    s2 = oracle_scores(w.truth, w.firms, parks, f, p).reshape(len(frow), P)
    assert np.corrcoef(score[feasible], s2[feasible])[0, 1] > 0.7


def test_same_seed_same_bytes_other_seed_differs(world_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_world(simulate(N, SEED), again)
    assert _digest(again) == _digest(world_dir)
    other = tmp_path / "other"
    write_world(simulate(N, SEED + 1), other)
    d_other = _digest(other)
    assert d_other["firms.parquet"] != _digest(world_dir)["firms.parquet"]
    assert d_other["events.parquet"] != _digest(world_dir)["events.parquet"]


@pytest.mark.parametrize("n", [0, -5])
def test_bad_n_is_rejected_without_files(tmp_path: Path, n: int) -> None:
    out = tmp_path / "w"
    with pytest.raises(ValueError, match="positive"):
        cli_synth(n, 1, out, overwrite=False)
    with pytest.raises(ValueError, match="positive"):
        simulate(n, 1)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_dir_is_rejected_without_files(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        cli_synth(500, 1, blocker / "world", overwrite=False)
    w = simulate(500, 1)
    with pytest.raises(ValueError, match="not a directory"):
        write_world(w, blocker / "world")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_existing_dir_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    w = simulate(500, 2)
    with pytest.raises(ValueError, match="overwrite"):
        write_world(w, out)
    assert (out / "keep.txt").read_text() == "old"
    write_world(w, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "events.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # no temp dirs left beside it


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    w = simulate(500, 3)
    w.events = w.events.assign(**{S.YEAR: "not-a-year"})  # breaks the Arrow schema mid-write
    out = tmp_path / "w"
    with pytest.raises((TypeError, ValueError, Exception)):
        write_world(w, out)
    assert list(tmp_path.iterdir()) == []


def test_load_world_round_trip(world_dir: Path) -> None:
    w = load_world(world_dir)
    assert isinstance(w.firms[S.FUNCTIONS_COL].iloc[0], list)
    assert isinstance(w.events[S.SHORTLIST_PARK_IDS].iloc[0], list)
    assert w.latent is not None and len(w.latent) == N
    with pytest.raises(FileNotFoundError):
        load_world(world_dir / "missing")


def test_simulated_offers_fill_only_unknown_levers_and_record_themselves(world_dir: Path) -> None:
    """The simulator's offers leave every stated value as the catalogue states it, draw whole
    levers (all six subsidy items or none) for about half of the parks, and are recorded in
    truth.json so that training sees the catalogue the firms weighed."""
    from training.synth import OFFER_SHARE, simulated_offers

    cat = load_parks()
    offers = simulated_offers(cat)
    levers = [S.LAND_PRICE, S.AVAILABLE_LAND_MU, *S.SUBSIDY_COLUMNS]
    for col in levers:
        stated = cat[col].notna()
        assert (offers.loc[stated, col] == cat.loc[stated, col]).all(), col
    assert offers[list(S.SUBSIDY_COLUMNS)].isin([0.0, 1.0, 2.0, 3.0, np.nan]).all().all()
    own = cat[list(S.SUBSIDY_COLUMNS)].notna().any(axis=1)
    counts = offers.loc[~own, list(S.SUBSIDY_COLUMNS)].notna().sum(axis=1)
    assert set(counts) <= {0, len(S.SUBSIDY_COLUMNS)}
    share = (counts > 0).mean()
    assert abs(share - OFFER_SHARE) < 0.1, share
    assert offers.equals(simulated_offers(cat))  # stable: the world and training agree
    truth = json.loads((world_dir / "truth.json").read_text(encoding="utf-8"))
    assert truth["simulated_offers"]["share"] == OFFER_SHARE

"""Behaviour of the matching core on a small trained bundle (see tests/conftest.py)."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import schemas as S
from features.pairs import FEATURE_NAMES
from matcher.bundle import BundleError
from matcher.core import Matcher

PHARMA = {
    "name": "北京某原料药有限公司",
    "industry_code": "2710",
    "functions": ["production"],
    "employees": 300,
}


def ranking(result: S.RecommendationResult) -> list[str]:
    return [r.park_id for r in result.recommendations]


def test_partial_profiles_work_and_report_imputation(matcher: Matcher) -> None:
    by_code = matcher.recommend({"name": "甲", "industry_code": "3670"})
    assert len(by_code.recommendations) == 10
    assert S.INDUSTRY_CODE not in by_code.imputed
    by_text = matcher.recommend({"name": "乙", "description": "化学原料药的研发与生产"})
    assert S.INDUSTRY_CODE in by_text.imputed
    assert by_text.recommendations
    for rec in by_code.recommendations:
        assert set(rec.criteria) == set(S.CRITERIA)
        assert all(v is None or 0.0 <= v <= 1.0 for v in rec.criteria.values())
        # the industry fit and the distance always rest on known values
        assert rec.criteria["industry_chain"] is not None and rec.criteria["proximity"] is not None
        assert 2 <= len(rec.reasons) <= 4
    ranks = [r.rank for r in by_code.recommendations]
    assert ranks == list(range(1, 11))
    # the documented order (matcher.core.diversified_order): the best park of each of up to
    # five counties first, by score, then every other park by score: two descending runs
    scores = [r.score for r in by_code.recommendations]
    ascents = sum(b > a for a, b in itertools.pairwise(scores))
    assert ascents <= 1, scores
    counties = [r.adcode for r in by_code.recommendations]
    split = next((i for i in range(1, len(scores)) if scores[i] > scores[i - 1]), len(scores))
    assert split > 5 or len(set(counties[:split])) == split, (counties, scores)


def test_renaming_a_firm_changes_nothing(matcher: Matcher) -> None:
    a = matcher.recommend({**PHARMA, "name": "北京甲药业有限公司", "firm_id": "A"})
    b = matcher.recommend({**PHARMA, "name": "完全不同的名字", "firm_id": "B"})
    assert a.recommendations == b.recommendations


def with_catalogue_values(matcher: Matcher, park_id: str, **values: object) -> Matcher:
    """The same trained stages over a catalogue where one park states values the real one lacks."""
    parks = matcher.parks.copy()
    row = parks.index[parks[S.PARK_ID] == park_id][0]
    for col, value in values.items():
        parks[col] = parks[col].astype(object)
        parks.at[row, col] = value
    return Matcher(
        matcher.embedder,
        matcher.index,
        matcher.ranker,
        matcher.inferer,
        parks,
        matcher.priors_frame,
        matcher.manifest,
        matcher.candidates,
        matcher.tower,
        matcher.history,
        matcher.precedents,
    )


def test_land_need_above_a_parks_stated_land_removes_it_and_unknown_land_never_does(
    matcher: Matcher,
) -> None:
    first = matcher.recommend(PHARMA).recommendations[0]
    m = with_catalogue_values(matcher, first.park_id, available_land_mu=40.0)
    hungry = m.recommend({**PHARMA, "land_need_mu": 41}, explain_excluded=True)
    assert first.park_id not in ranking(hungry)
    rules = {e.park_id: (e.rule, e.detail) for e in hungry.excluded}
    assert rules[first.park_id][0] == "land" and "40亩" in rules[first.park_id][1]
    # every other park's land is unknown in the catalogue, and unknown never rules a park out
    assert {p for p, (rule, _) in rules.items() if rule == "land"} == {first.park_id}
    assert hungry.recommendations


def test_more_beijing_ties_never_moves_the_recommendations_farther(
    matcher: Matcher, small_world: tuple[object, Path]
) -> None:
    """The same firms, tied to Beijing or not: the five parks shown move closer to Beijing.

    The first park alone may move farther for a tied firm, to a park that keeps its Beijing
    registration (异地监管), which ties make worth more; so the shown list is compared."""
    world, _ = small_world
    firms = world.firms.sample(60, random_state=3)  # type: ignore[attr-defined]
    dist = matcher.parks.set_index(S.PARK_ID)[S.DISTANCE_KM]
    far, near = [], []
    for rec in firms.to_dict("records"):
        base = {
            k: rec[k]
            for k in (S.NAME, S.INDUSTRY_CODE, S.DESCRIPTION, S.FUNCTIONS_COL, S.EMPLOYEES, S.LAND_NEED_MU)
        }
        base[S.FUNCTIONS_COL] = list(base[S.FUNCTIONS_COL])
        low = matcher.recommend({**base, S.BEIJING_TIES: 0.05, S.MAX_DISTANCE_KM: 600}, top=5)
        high = matcher.recommend({**base, S.BEIJING_TIES: 0.95, S.MAX_DISTANCE_KM: 600}, top=5)
        if low.recommendations and high.recommendations:
            far.append(np.mean([dist[r.park_id] for r in low.recommendations]))
            near.append(np.mean([dist[r.park_id] for r in high.recommendations]))
    assert len(near) >= 50
    assert np.mean(near) <= np.mean(far)


def test_pharma_api_producer_gets_a_pharma_park_with_offsite_supervision(matcher: Matcher) -> None:
    result = matcher.recommend(PHARMA, top=5)
    parks = matcher.parks.set_index(S.PARK_ID)
    hits = [
        pid
        for pid in ranking(result)
        if any(c.startswith("27") for c in parks.loc[pid, S.INDUSTRY_CODES])
        and parks.loc[pid, S.KEEPS_BEIJING_REGISTRATION]
    ]
    assert hits, ranking(result)


def test_a_stated_pollution_limit_excludes_and_an_unknown_one_does_not(matcher: Matcher) -> None:
    steel = {"name": "钢厂", "industry_code": "3110", "pollution_level": "high"}
    first = matcher.recommend(steel, top=50).recommendations[0]
    m = with_catalogue_values(matcher, first.park_id, max_pollution_level="low")
    result = m.recommend(steel, explain_excluded=True, top=50)
    assert first.park_id not in ranking(result)
    rules = {e.park_id: e.rule for e in result.excluded}
    assert rules.get(first.park_id) == "pollution"
    assert "pollution" not in {r for p, r in rules.items() if p != first.park_id}
    assert all(e.detail for e in result.excluded)


def test_contributions_add_up_to_the_score(matcher: Matcher, small_world: tuple[object, Path]) -> None:
    world, _ = small_world
    batch, _ = matcher.prepare({k: world.firms[k].to_numpy(object)[:20] for k in S.FIRM_COLUMNS})  # type: ignore[attr-defined]
    _, cands, x = matcher.features(batch)
    rows = x[cands.parks >= 0]
    contrib = matcher.ranker.contributions(rows)
    np.testing.assert_allclose(
        contrib.sum(axis=1) + matcher.ranker.contrib_bias_, matcher.ranker.predict(rows), rtol=1e-6, atol=1e-6
    )


def test_recommend_frame_is_the_batch_path(matcher: Matcher) -> None:
    df = pd.DataFrame(
        [
            {**PHARMA, "firm_id": "f1", "functions": "production"},
            {"firm_id": "f2", "name": "坏", "industry_code": "0000"},
            {"firm_id": "f3", "name": "物流", "description": "冷链仓储物流配送"},
        ]
    )
    recs, rejects = matcher.recommend_frame(df, top=3)
    assert list(rejects[S.ROW]) == [2] and list(rejects[S.FIELD]) == [S.INDUSTRY_CODE]
    assert sorted(recs[S.FIRM_ID].unique()) == ["f1", "f3"]
    single = matcher.recommend({**PHARMA, "firm_id": "f1"}, top=3)
    assert list(recs[recs[S.FIRM_ID] == "f1"][S.PARK_ID]) == ranking(single)


def test_invalid_profile_names_the_field(matcher: Matcher) -> None:
    with pytest.raises(ValueError, match="industry_code"):
        matcher.recommend({"name": "x", "industry_code": "9999"})


def test_the_cli_table_shows_an_unknown_criterion_as_unknown(matcher: Matcher) -> None:
    """``recommend --format table`` for a data centre: most parks state no land price or subsidy,
    so those criteria are None; the table says unknown instead of failing or printing a number."""
    from matcher.cli import format_table

    result = matcher.recommend(
        {"name": "某数据中心", "industry_code": "6450", "functions": ["data_center"]}, top=10
    )
    unknown = [r for r in result.recommendations if any(v is None for v in r.criteria.values())]
    assert unknown, "the fixture catalogue should leave some criterion unknown"
    text = format_table(result)
    row = next(line for line in text.splitlines() if line.startswith(f"{unknown[0].rank:>2}  "))
    assert "--" in row and "nan" not in row.lower()
    assert f"-- = {S.UNKNOWN_ZH}" in text


# --- bundle integrity -----------------------------------------------------------------------


@pytest.fixture()
def bundle_copy(bundle_path: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(bundle_path, dst)
    return dst


def test_bundle_has_manifest_with_checksums_and_no_pickle(bundle_path: Path) -> None:
    manifest = json.loads((bundle_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["feature_names"] == list(FEATURE_NAMES)
    assert {"lightgbm", "faiss-cpu", "numpy"} <= set(manifest["libraries"])
    assert {"ranker.txt", "parks.faiss", "parks.parquet"} <= set(manifest["files"])
    for name in manifest["files"]:
        assert not name.endswith((".pkl", ".pickle", ".joblib"))


def test_bundle_missing_a_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "parks.faiss").unlink()
    with pytest.raises(BundleError, match=r"missing parks\.faiss"):
        Matcher.load(bundle_copy)


def test_bundle_checksum_mismatch_is_refused(bundle_copy: Path) -> None:
    with (bundle_copy / "ranker.txt").open("a", encoding="utf-8") as fh:
        fh.write("\n")
    with pytest.raises(BundleError, match=r"checksum mismatch for ranker\.txt"):
        Matcher.load(bundle_copy)


def test_bundle_with_other_feature_names_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["feature_names"] = [*manifest["feature_names"][:-1], "old_feature"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="other features"):
        Matcher.load(bundle_copy)


def test_bundle_that_does_not_exist_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="parkmatch train"):
        Matcher.load(tmp_path / "nope")


def test_single_purpose_sites_take_only_their_functions_when_the_functions_are_given(
    matcher: Matcher,
) -> None:
    parks = matcher.parks.set_index(S.PARK_ID)
    kind = parks[S.PLATFORM_TYPE]
    designated = parks[S.DESIGNATED_FUNCTIONS]
    markets = {p for p in parks.index if kind[p] == "trade_market" and "wholesale" in designated[p]}
    dc_bases = {p for p in parks.index if kind[p] == "data_center_base" and designated[p]}
    assert markets and dc_bases
    hospital = {"name": "某医院分院", "industry_code": "8411", "functions": ["healthcare"]}
    result = matcher.recommend(hospital, top=50, explain_excluded=True)
    removed = {e.park_id: e for e in result.excluded if e.rule == "purpose"}
    assert markets | dc_bases <= set(removed)
    assert not (markets | dc_bases) & set(ranking(result))
    some = removed[sorted(markets)[0]]
    assert "批发" in some.detail and "医疗" in some.detail, some.detail
    # a general park is never removed by this rule (the administrative office district is a
    # single-purpose site too: test_an_administrative_office_district_takes_only_public_bodies)
    assert all(
        kind[p] in ("trade_market", "logistics_hub", "data_center_base") or p == "BJ002" for p in removed
    )
    # merchants keep the markets, and a logistics firm keeps them too (kindred functions)
    for functions in (["wholesale"], ["logistics"]):
        firm = {"name": "某商户", "industry_code": "5132", "functions": functions}
        kept = matcher.recommend(firm, top=50, explain_excluded=True)
        assert not {e.park_id for e in kept.excluded if e.rule == "purpose"} & markets
    # functions the officer did not give are an estimate: it ranks but never removes a market, a
    # hub or a base; only the office district reads it, since only a public body's code imputes
    # administration
    unsaid = {"name": "某医院分院", "industry_code": "8411"}
    guessed = matcher.recommend(unsaid, top=50, explain_excluded=True)
    assert "functions" in guessed.imputed
    assert [e.park_id for e in guessed.excluded if e.rule == "purpose"] == ["BJ002"]


def test_a_market_or_hub_without_a_stated_designation_takes_its_own_trade(matcher: Matcher) -> None:
    """固安's 国际商贸城 and the 内陆港s state no designation document, yet a clothing market is
    no place for a software firm: the platform type decides, and the removal says so."""
    from features.pairs import function_mask, purpose_mask

    parks = matcher.parks.set_index(S.PARK_ID)
    kind = parks[S.PLATFORM_TYPE]
    bare = {
        p
        for p in parks.index
        if kind[p] in ("trade_market", "logistics_hub", "data_center_base")
        and not list(parks.loc[p, S.DESIGNATED_FUNCTIONS] or [])
    }
    assert {"HE097", "HE013"} <= bare
    trade = function_mask(["logistics", "wholesale"])
    assert purpose_mask("trade_market", []) == trade == purpose_mask("logistics_hub", None)
    assert purpose_mask("data_center_base", []) == function_mask(["data_center"])
    assert purpose_mask("industrial_park", []) == 0  # a general park stays open to every function
    software = {"name": "某软件公司", "industry_code": "6513", "functions": ["rnd", "back_office"]}
    result = matcher.recommend(software, top=50, explain_excluded=True)
    removed = {e.park_id: e for e in result.excluded if e.rule == "purpose"}
    assert bare <= set(removed)
    assert not bare & set(ranking(result))
    assert "未查到定向承接文件" in removed["HE097"].detail and "商贸市场" in removed["HE097"].detail
    merchant = {"name": "某服装商户", "industry_code": "5132", "functions": ["wholesale"]}
    kept = matcher.recommend(merchant, top=50, explain_excluded=True)
    assert not {e.park_id for e in kept.excluded if e.rule == "purpose"} & bare


def test_a_themed_town_takes_only_the_trades_of_its_theme(matcher: Matcher) -> None:
    """The 副中心's 环球度假区, 台湖演艺小镇 and 宋庄艺术创意小镇 are districts of theatres, studios
    and hotels: a software firm, a hospital or a factory never sees them, whatever its county's
    precedents; a theatre company does, and the removal names the theme and the firm's trade."""
    from features.pairs import CodeSets, firm_code_ids, theme_allows

    parks = matcher.parks.set_index(S.PARK_ID)
    towns = set(parks.index[parks[S.PLATFORM_TYPE] == "theme_town"])
    assert towns == {"BJ004", "BJ006", "BJ007"}
    assert theme_allows("8810", ["88"]) and theme_allows("88", ["8810"])
    assert not theme_allows("7211", ["90", "88"]) and not theme_allows("5190", ["5183"])
    sets = CodeSets.build([["88", "5183"], []])
    ids = firm_code_ids(np.array(["8810", "88", "51", "5183", "6513"], dtype=object))
    within = sets.within(np.broadcast_to(np.arange(2), (5, 2)), ids)
    assert within[:, 0].tolist() == [True, True, True, True, False]
    assert not within[:, 1].any()  # a park with no codes takes nothing under this test
    for firm in (
        {"name": "某软件公司", "industry_code": "6513", "functions": ["rnd"]},
        {"name": "某三甲医院分院", "industry_code": "8411", "functions": ["healthcare"]},
        {"name": "某央企总部", "industry_code": "7211", "functions": ["headquarters"]},
        {"name": "某汽车零部件厂", "industry_code": "3670"},
    ):
        result = matcher.recommend(firm, top=50, explain_excluded=True)
        removed = {e.park_id: e for e in result.excluded if e.rule == "theme"}
        assert set(removed) == towns, firm
        assert not towns & set(ranking(result))
        detail = removed["BJ006"].detail
        assert "文旅文创特色小镇" in detail and firm["industry_code"] in detail
    troupe = {"name": "某剧团", "industry_code": "8810", "functions": ["headquarters"]}
    kept = matcher.recommend(troupe, top=50, explain_excluded=True)
    assert not {e.park_id for e in kept.excluded if e.rule == "theme"}
    assert "BJ006" in ranking(kept)


def test_an_administrative_office_district_takes_only_public_bodies(matcher: Matcher) -> None:
    """The 行政办公区 is designated for the municipal Party and government bodies alone: a firm
    whose functions the officer gave as anything else never sees it, whatever the platform."""
    from features.pairs import function_mask, purpose_mask

    parks = matcher.parks.set_index(S.PARK_ID)
    offices = {
        p for p in parks.index if list(parks.loc[p, S.DESIGNATED_FUNCTIONS] or []) == ["administration"]
    }
    assert offices == {"BJ002"}
    admin = function_mask(["administration"])
    assert purpose_mask("concentrated_receiving_area", ["administration"]) == admin
    # a receiving area designated for administration among other functions is not single-purpose
    assert purpose_mask("concentrated_receiving_area", ["administration", "headquarters"]) == 0
    for firm in (
        {"name": "某互联网公司数据中心", "industry_code": "6450", "functions": ["data_center"]},
        {"name": "某民企总部", "industry_code": "7211", "functions": ["headquarters"]},
        {"name": "某软件公司研发中心", "industry_code": "6513", "functions": ["rnd", "back_office"]},
    ):
        result = matcher.recommend(firm, top=50, explain_excluded=True)
        removed = {e.park_id: e for e in result.excluded if e.rule == "purpose"}
        assert "BJ002" in removed, firm["name"]
        assert "行政" in removed["BJ002"].detail, removed["BJ002"].detail
        assert "BJ002" not in ranking(result)
    body = {"name": "某市属机关", "industry_code": "9221", "functions": ["administration"]}
    kept = matcher.recommend(body, top=50, explain_excluded=True)
    assert "BJ002" not in {e.park_id for e in kept.excluded}
    assert "BJ002" in ranking(kept)
    # with no functions given, the code decides: an internet firm is no public body, a bureau is
    bare = matcher.recommend({"name": "某互联网公司", "industry_code": "6450"}, top=50, explain_excluded=True)
    removed = {e.park_id: e for e in bare.excluded if e.rule == "purpose"}
    assert "BJ002" in removed and "按行业估计" in removed["BJ002"].detail
    bureau = matcher.recommend({"name": "某市属机关", "industry_code": "9221"}, top=50, explain_excluded=True)
    assert "BJ002" not in {e.park_id for e in bureau.excluded} and "BJ002" in ranking(bureau)

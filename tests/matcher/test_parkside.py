"""The park's side on the small trained bundle: leads, why-not, what-if, compare, firm index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features import schemas as S
from features.validation import FirmBatch, columns_from_records
from matcher.core import Matcher
from matcher.leads import FirmIndex, leads_for_batch, leads_frame
from matcher.parkside import park_position, standing
from matcher.whynot import _changes, compare, rank_with, what_if, why

CANGZHOU_PHARMA = "HE082"  # 京津冀·沧州生物医药产业园: 原料药, 制剂, offsite supervision
API_PRODUCERS = [
    {
        "name": f"北京某原料药企业{i}",
        "industry_code": "2710",
        "functions": ["production"],
        "employees": 200 + 50 * i,
    }
    for i in range(3)
]
OTHERS = [
    {"name": "北京某软件公司", "industry_code": "6513", "functions": ["rnd"]},
    {"name": "北京某冷链物流公司", "description": "冷链仓储与城市配送", "functions": ["logistics"]},
    {"name": "北京某服装批发商户", "industry_code": "5132", "functions": ["wholesale"]},
    {"name": "北京某汽车零部件厂", "industry_code": "3670", "functions": ["production"]},
    {"name": "北京某医院", "industry_code": "8411", "functions": ["healthcare"]},
    {"name": "北京某总部", "industry_code": "7212", "functions": ["headquarters"]},
]


def batch_of(matcher: Matcher, records: list[dict[str, object]]) -> FirmBatch:
    batch, errors = matcher.prepare(columns_from_records(records))
    assert not errors
    return batch


def test_the_cangzhou_pharma_parks_leads_put_the_api_producers_first(matcher: Matcher) -> None:
    mixed = [
        OTHERS[0],
        API_PRODUCERS[0],
        OTHERS[1],
        OTHERS[2],
        API_PRODUCERS[1],
        *OTHERS[3:],
        API_PRODUCERS[2],
    ]
    leads = leads_for_batch(matcher, batch_of(matcher, mixed), CANGZHOU_PHARMA, top=len(mixed))
    names = [lead[S.FIRM_NAME] for lead in leads]
    assert set(names[:3]) == {p["name"] for p in API_PRODUCERS}, names
    first = leads[0]
    assert 0 < first[S.LEAD_SCORE] <= 1 and 0 <= first[S.PRESSURE] <= 1
    assert first[S.PARK_RANK] >= 1 and first[S.N_OPTIONS] >= first[S.PARK_RANK]
    assert any("疏解压力" in r for r in first[S.REASONS])
    # who competes: a firm whose first choice is elsewhere is told so, with the rank
    elsewhere = [lead for lead in leads if lead[S.PARK_RANK] and lead[S.PARK_RANK] > 1]
    assert elsewhere and all(
        any(f"本园区排第{lead[S.PARK_RANK]}" in r for r in lead[S.REASONS]) for lead in elsewhere
    )
    frame = leads_frame(leads)
    assert list(frame.columns) == list(S.LEAD_COLUMNS) and len(frame) == len(leads)


def test_why_on_the_first_park_says_it_is_first(matcher: Matcher) -> None:
    firm = API_PRODUCERS[0]
    top = matcher.recommend(firm, top=5).recommendations
    answer = why(matcher, batch_of(matcher, [firm]), top[0].park_id)
    assert answer["rank"] == 1 and "排第1位" in answer["summary"]
    assert answer["top1"]["park_id"] == top[0].park_id
    # every other shown park's rank is the rank the firm's own recommendation prints
    for rec in top[1:]:
        assert why(matcher, batch_of(matcher, [firm]), rec.park_id, what_if_search=False)["rank"] == rec.rank


def test_why_reports_a_park_that_retrieval_did_not_return_and_a_hard_rule_removal(matcher: Matcher) -> None:
    firm = OTHERS[0]
    shown = {r.park_id for r in matcher.recommend(firm, top=50).recommendations}
    b = batch_of(matcher, [firm])
    st = standing(matcher, b, list(range(len(matcher.parks))))
    unseen = [
        str(matcher.park_arrays.ids[p])
        for p in range(len(matcher.parks))
        if matcher.park_arrays.ids[p] not in shown
    ]
    answer = why(matcher, b, unseen[0], what_if_search=False)
    assert answer["rank"] is None or answer["rank"] > 50 or answer["excluded_by"]
    assert st.n_options[0] >= 50
    steel = {"name": "钢厂", "industry_code": "3110", "pollution_level": "high"}
    first = matcher.recommend(steel, top=1).recommendations[0].park_id
    parks = matcher.parks.copy()
    parks[S.MAX_POLLUTION_LEVEL] = parks[S.MAX_POLLUTION_LEVEL].astype(object)
    parks.loc[parks[S.PARK_ID] == first, S.MAX_POLLUTION_LEVEL] = "low"
    removed = why(matcher.with_catalogue(parks), batch_of(matcher, [steel]), first)
    assert removed["rank"] is None and removed["excluded_by"][0].startswith("pollution")
    assert "硬性条件" in removed["summary"] and removed["needs_to_change"]


# A steel rolling mill with a large stated land need: its 5th park states a land price, and on
# the small bundle a lower price lifts that park into the top 3.
ROLLING_MILL = {
    "name": "北京某钢压延加工企业",
    "industry_code": "3140",
    "functions": ["production"],
    "employees": 104,
    "land_need_mu": 87.9,
}


def test_what_if_agrees_with_re_scoring_each_change_by_brute_force(matcher: Matcher) -> None:
    """For the parks ranked 4th to 6th, each field's largest feasible change is re-scored here
    on its own: what_if must offer exactly the fields whose change reaches the top 3, verify
    every offer, and otherwise report the best single-change rank it found."""
    batch = batch_of(matcher, [ROLLING_MILL])
    need = float(batch.cols[S.LAND_NEED_MU][0])
    for rec in matcher.recommend(ROLLING_MILL, top=6).recommendations[3:]:
        row = matcher.parks.loc[matcher.parks[S.PARK_ID] == rec.park_id].iloc[0]
        largest: dict[str, float] = {}
        for field, _old, new, _text in _changes(row, need):
            largest[field] = new  # the steps of a field come smallest first
        ranks = {f: rank_with(matcher, batch, rec.park_id, {f: v}) for f, v in largest.items()}
        reaching = {f for f, r in ranks.items() if r is not None and r <= 3}
        changes, text = what_if(matcher, batch, rec.park_id)
        singles = {c["field"] for c in changes if "+" not in c["field"]}
        assert singles == reaching, (rec.park_id, ranks, text)
        for change in changes:
            again = rank_with(matcher, batch, rec.park_id, change["changes"])
            assert again == change["new_rank"] and again is not None and again <= 3, change
            assert change["text"].startswith("若") and change["text"] in text
        if not changes and ranks:
            best = min(r for r in ranks.values() if r is not None)
            assert f"单项调整最好排第{best}位" in text, (ranks, text)


def test_what_if_on_the_fifth_park_gives_a_change_that_really_reaches_the_top_3(matcher: Matcher) -> None:
    """For each firm of the mixed list, the park it ranks 5th: every change what_if offers is
    applied to a fresh copy of the catalogue and the firm is recommended again through the
    ordinary path, where the park must be in the top 3.  At least one of these parks has such a
    change on the small bundle (a subsidy item or the land price)."""
    lifted = []
    for firm in [*API_PRODUCERS, *OTHERS, ROLLING_MILL]:
        fifth = matcher.recommend(firm, top=5).recommendations[4]
        assert fifth.rank == 5
        changes, text = what_if(matcher, batch_of(matcher, [firm]), fifth.park_id)
        for change in changes:
            parks = matcher.parks.copy()
            at = parks.index[parks[S.PARK_ID] == fifth.park_id][0]
            for col, value in change["changes"].items():
                parks[col] = parks[col].astype(object)
                parks.at[at, col] = value
            top3 = [r.park_id for r in matcher.with_catalogue(parks).recommend(firm, top=3).recommendations]
            assert fifth.park_id in top3, (firm["name"], change, top3)
            assert top3.index(fifth.park_id) + 1 == change["new_rank"], (change, top3)
            lifted.append((firm["name"], change["text"]))
        assert changes or "不能使本园区进入前3" in text or "无法推算" in text, text
    assert lifted, "no park ranked 5th could be lifted into the top 3 by a change of its offer"


def test_what_if_says_so_when_no_change_lifts_the_park(matcher: Matcher) -> None:
    firm = API_PRODUCERS[0]
    b = batch_of(matcher, [firm])
    st = standing(matcher, b, list(range(len(matcher.parks))))
    ranks = st.rank[0]
    last = int(np.argmax(ranks))
    changes, text = what_if(matcher, b, str(matcher.park_arrays.ids[last]))
    assert (not changes and "不能使本园区进入前3" in text) or "无法推算" in text
    # an unchanged copy of the catalogue gives a park the firm is shown the rank it has, and a
    # park the firm is not shown at all no rank
    fifth = matcher.recommend(firm, top=5).recommendations[4]
    assert rank_with(matcher, b, fifth.park_id, {}) == 5
    shown = {r.park_id for r in matcher.recommend(firm, top=200).recommendations}
    if str(matcher.park_arrays.ids[last]) not in shown:
        assert rank_with(matcher, b, str(matcher.park_arrays.ids[last]), {}) is None


def test_compare_gives_criteria_reasons_and_provenance_side_by_side(matcher: Matcher) -> None:
    firm = API_PRODUCERS[0]
    top = [r.park_id for r in matcher.recommend(firm, top=2).recommendations]
    doc = compare(matcher, batch_of(matcher, [firm]), [*top, CANGZHOU_PHARMA])
    assert [p["park_id"] for p in doc["parks"]] == [*top, CANGZHOU_PHARMA]
    assert doc["parks"][0]["rank"] == 1
    for p in doc["parks"]:
        assert set(p["criteria"]) == set(S.CRITERIA)
        assert set(p["provenance"]) == set(S.PARK_DECISION_FIELDS)
        assert set(p["provenance"].values()) <= set(S.PROVENANCE_LEVELS)
    with pytest.raises(KeyError):
        park_position(matcher, "NOPE")


@pytest.fixture(scope="module")
def world_batch(matcher: Matcher, small_world: tuple[object, Path]) -> FirmBatch:
    world, _ = small_world
    firms = world.firms.iloc[:10_000]  # type: ignore[attr-defined]
    cols = {k: firms[k].to_numpy(object) for k in S.FIRM_COLUMNS if k in firms}
    for k in S.FIRM_LIST_COLUMNS:
        cols[k] = np.array([list(v) for v in firms[k]] + [None], dtype=object)[:-1]
    batch, errors = matcher.prepare(cols)
    assert not errors
    return batch


def test_leads_from_the_index_equal_exhaustive_leads_for_the_top_20(
    matcher: Matcher, world_batch: FirmBatch, tmp_path: Path
) -> None:
    FirmIndex(index_type="ivf", nlist=64, nprobe=8, search_k=2_000).fit(matcher, world_batch).save(
        tmp_path / "ix"
    )
    index = FirmIndex.load(tmp_path / "ix")
    assert len(index) == 10_000
    exhaustive = index.leads(matcher, CANGZHOU_PHARMA, 20, exhaustive=True)
    searched = index.leads(matcher, CANGZHOU_PHARMA, 20)
    assert [lead[S.FIRM_ID] for lead in searched] == [lead[S.FIRM_ID] for lead in exhaustive]
    # the list path gives the same leads for the same firms
    sub = world_batch.take(np.array(sorted({lead[S.ROW] - 1 for lead in exhaustive})))
    listed = leads_for_batch(matcher, sub, CANGZHOU_PHARMA, 20)
    assert [(x[S.FIRM_ID], x[S.LEAD_SCORE]) for x in listed] == [
        (x[S.FIRM_ID], x[S.LEAD_SCORE]) for x in exhaustive
    ]


def test_index_leads_for_a_park_few_firms_choose_first_equal_exhaustive_and_score_fewer_firms(
    matcher: Matcher, world_batch: FirmBatch
) -> None:
    """The park least often a first choice is where kept options help least: the bound-ordered
    completion must still find every exhaustive lead, while scoring fewer firms than all."""
    index = FirmIndex(index_type="ivf", nlist=64, nprobe=8, search_k=0, options_kept=8).fit(
        matcher, world_batch
    )
    firsts = np.bincount(index.first_park_[index.first_park_ >= 0], minlength=len(matcher.park_arrays.ids))
    chosen = np.bincount(index.option_parks_[index.option_parks_ >= 0], minlength=len(firsts))
    # among parks that many firms keep as an option, the one fewest firms pick first
    often = np.flatnonzero(chosen >= 200)
    p = int(often[np.argmin(firsts[often])])
    park_id = str(matcher.park_arrays.ids[p])
    ids, _ = index.park_scores(matcher, p, 20)
    assert len(ids) < len(index)
    searched = index.leads(matcher, park_id, 20)
    exhaustive = index.leads(matcher, park_id, 20, exhaustive=True)
    assert len(exhaustive) == 20
    assert [(x[S.FIRM_ID], x[S.LEAD_SCORE]) for x in searched] == [
        (x[S.FIRM_ID], x[S.LEAD_SCORE]) for x in exhaustive
    ]


def test_a_firm_index_of_an_older_format_is_refused_with_a_rebuild_hint(
    matcher: Matcher, world_batch: FirmBatch, tmp_path: Path
) -> None:
    import json

    from matcher.bundle import MANIFEST

    FirmIndex(nlist=4, search_k=50).fit(matcher, world_batch.take(np.arange(300))).save(tmp_path / "ix")
    path = tmp_path / "ix" / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format"] = 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match="index-firms"):
        FirmIndex.load(tmp_path / "ix")


def test_a_tampered_firm_index_is_refused(matcher: Matcher, world_batch: FirmBatch, tmp_path: Path) -> None:
    FirmIndex(nlist=4, search_k=50).fit(matcher, world_batch.take(np.arange(300))).save(tmp_path / "ix")
    for name in (tmp_path / "ix").iterdir():
        assert not name.name.endswith((".pkl", ".pickle", ".joblib"))
    with (tmp_path / "ix" / "firms.parquet").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ValueError, match="checksum mismatch"):
        FirmIndex.load(tmp_path / "ix")

"""The trade words a firm's description shares with a park's name and 主导产业 (features.trade_text)."""

from __future__ import annotations

import numpy as np
import pytest

from features import reference as R
from features import schemas as S
from features.pairs import FEATURE_NAMES, MONOTONE, ParkArrays
from features.trade_text import TradeText, clean, grams
from matcher.explain import _sentence


@pytest.fixture(scope="module")
def parks() -> ParkArrays:
    return ParkArrays.build(R.load_parks())


def _names(pa: ParkArrays) -> list[str]:
    return pa.text[S.PARK_NAME]


def test_a_time_honoured_food_maker_matches_the_time_honoured_food_parks_first(parks: ParkArrays) -> None:
    sim = parks.trade.similarity(["腐乳、酱菜等中华老字号调味品生产"])[0]
    leads = parks.frame[S.LEADING_INDUSTRIES].fillna("")
    top2 = [f"{_names(parks)[p]} {leads[p]}" for p in np.argsort(-sim, kind="stable")[:2]]
    assert all("老字号" in text for text in top2), top2
    # a food park that states food but not the time-honoured brand scores lower
    food_only = [p for p, lead in enumerate(leads) if lead == "装备制造、食品加工"]
    assert food_only and all(sim[p] < min(sim[np.argsort(-sim)[:2]]) for p in food_only)


def test_place_words_never_count(parks: ParkArrays) -> None:
    """A description naming where a firm went matches no park by that place."""
    with_place = parks.trade.similarity(["电站锅炉制造（北京研发、曹妃甸生产）", "高校（雄安校区）"])
    without = parks.trade.similarity(["电站锅炉制造（研发、生产）", "高校（校区）"])
    np.testing.assert_array_equal(with_place, without)
    assert "曹妃甸" not in clean("曹妃甸协同发展示范区") and "雄安" not in clean("河北雄安新区")
    assert grams("固安县经济开发区") == []


def test_no_description_is_unknown_and_unknown_words_are_zero(parks: ParkArrays) -> None:
    sim = parks.trade.similarity(["", "啊呀呀"])
    assert np.isnan(sim[0]).all()
    assert (sim[1] == 0).all()


def test_words_every_park_states_weigh_less_than_rare_ones() -> None:
    tt = TradeText(["食品 机器人", "食品 装备", "食品 家具"])
    sim = tt.similarity(["机器人食品"])[0]
    assert sim[0] > sim[1] == sim[2] > 0


def test_the_feature_is_monotone_and_belongs_to_the_industry_chain() -> None:
    assert "trade_text" in FEATURE_NAMES and MONOTONE["trade_text"] == 1


def test_a_shared_trade_word_is_said_when_the_codes_share_nothing(parks: ParkArrays) -> None:
    p = next(i for i, name in enumerate(_names(parks)) if "老字号食品产业园" in name)
    description = "中华老字号品牌数字化软件"
    text = _sentence(
        "industry_chain", parks, p, "6513", [], 0.0, 0.5, [], ["headquarters"], None, description
    )
    assert text == "园区名称或主导产业与企业主营同含“中华老字号”"
    # with no description and no shared code there is nothing to say
    assert _sentence("industry_chain", parks, p, "6513", [], 0.0, 0.5, [], ["headquarters"], None, "") is None


def _reference_cosines(tt: TradeText, text: str) -> np.ndarray:
    """The feature's definition written plainly: sublinear tf × idf over every n-gram of the
    text (unseen ones at the unseen idf), L2-normalised, dotted with each park row."""
    from collections import Counter

    weights = {
        g: (1 + np.log(c)) * (tt.idf[tt.vocabulary[g]] if g in tt.vocabulary else tt.unseen_idf)
        for g, c in Counter(grams(text)).items()
    }
    norm = np.sqrt(sum(w * w for w in weights.values())) or 1.0
    vec = np.zeros(tt.parks.shape[1])
    for g, w in weights.items():
        if g in tt.vocabulary:
            vec[tt.vocabulary[g]] = w / norm
    return tt.parks.astype(np.float64) @ vec


def test_the_array_count_equals_the_definition_and_a_firm_scores_the_same_alone(parks: ParkArrays) -> None:
    texts = [
        "腐乳、酱菜等中华老字号调味品生产（北京研发，曹妃甸生产）",
        "经营范围：工业机器人制造；机器人机器人机器人。",
        "ABC智能家居 3D打印 新能源汽车零部件",
        "数据中心",
        "",
        "啊呀呀",
    ] * 3
    batch = parks.trade.similarity(texts)
    for i, t in enumerate(texts):
        alone = parks.trade.similarity([t])[0]
        np.testing.assert_array_equal(alone, batch[i])
        if t:
            np.testing.assert_allclose(batch[i], _reference_cosines(parks.trade, t), atol=1e-6)

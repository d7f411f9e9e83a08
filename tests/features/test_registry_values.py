"""Registry-export values (features.registry, features.validation): '-' cells, 2011 codes, zero-led
codes stored as numbers, 所属行业 names, functional zones, 登记状态, Chinese function values,
texts without content and the inferer's confidence."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from features import schemas as S
from features.embeddings import IndustryInferer, Inference, scoring_units, with_hints
from features.registry import (
    activity_divisions,
    credit_code_outside_beijing,
    division_training_texts,
    has_content,
    labelled_industry_texts,
    origin_from_address,
    parse_headcount,
    parse_origin,
    reused_codes,
    scope_clauses,
    synonym_hits,
)
from features.validation import Priors, columns_from_records, imputed_values, prepare, validate_columns


class Recorder:
    """A scored inferer that answers from a fixed table and records what it was asked."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, list[str]]] = []

    def infer(self, texts: Sequence[str], allowed: Sequence[Sequence[str]] | None = None) -> list[Inference]:
        out = []
        for i, t in enumerate(texts):
            lim = list(allowed[i]) if allowed is not None else []
            self.calls.append((t, lim))
            code = self.answers.get(t)
            out.append(Inference(code, 0.9 if code else 0.0))
        return out


def run(records: list[dict[str, object]], answers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    inferer = Recorder(answers or {})
    batch, errors = prepare(columns_from_records(records), Priors.bundled(), inferer)
    return batch, {e.row: (e.field, e.reason) for e in errors}, inferer


def test_dash_and_blank_headcounts_are_missing_not_errors() -> None:
    batch, errors, _ = run(
        [
            {"name": "甲", "industry_code": "2710", "employees": "-"},
            {"name": "乙", "industry_code": "2710", "employees": "—", "insured_employees": "35"},
            {"name": "丙", "industry_code": "2710", "employees": "50-99人"},
            {"name": "丁", "industry_code": "2710", "employees": "很多"},
        ]
    )
    assert list(batch.rows) == [1, 2, 3]
    assert S.EMPLOYEES in batch.imputed[0]
    assert batch.cols[S.EMPLOYEES][1] == 35 and "参保人数" in batch.warnings[1][0]
    assert batch.cols[S.EMPLOYEES][2] == 74 and "中值" in batch.warnings[2][0]
    assert errors[4][0] == S.EMPLOYEES and "员工人数" in errors[4][1] and "不是数字" in errors[4][1]


def test_gbt2011_codes_map_through_the_crosswalk_or_fall_back_to_the_description() -> None:
    batch, errors, inferer = run(
        [
            {"name": "甲", "industry_code": "6530"},  # moved one-to-one: 6560 信息技术咨询服务
            {"name": "乙", "industry_code": "6510", "description": "应用软件开发与销售"},  # split
            {"name": "丙", "industry_code": "6510"},  # split, nothing to decide with
            {"name": "丁", "industry_code_2011": "5810"},  # explicit 2011 column: 装卸搬运 → 5910
        ],
        {"应用软件开发与销售": "6513"},
    )
    assert list(batch.rows) == [1, 2, 4]
    assert list(batch.cols[S.INDUSTRY_CODE]) == ["6560", "6513", "5910"]
    assert "2011 版" in batch.warnings[0][0] and "6560" in batch.warnings[0][0]
    assert inferer.calls == [("应用软件开发与销售", ["6511", "6512", "6513", "6519"])]
    assert errors[3][0] == S.INDUSTRY_CODE and "拆为" in errors[3][1]


def test_reused_codes_stay_2017_but_warn_when_the_description_says_2011() -> None:
    assert {"5810", "6540", "3660"} <= reused_codes()
    batch, errors, _ = run(
        [
            {"name": "甲", "industry_code": "5810", "description": "货物装卸搬运"},
            {"name": "乙", "industry_code": "5810", "description": "多式联运组织"},
        ],
        {"货物装卸搬运": "5910", "多式联运组织": "5810"},
    )
    assert not errors
    assert list(batch.cols[S.INDUSTRY_CODE]) == ["5810", "5810"]
    assert "2011 版" in batch.warnings[0][0] and "5910" in batch.warnings[0][0]
    assert batch.warnings[1] == []


def test_zero_led_codes_stored_as_numbers() -> None:
    batch, errors, _ = run(
        [
            {"name": "甲", "industry_code": 111, "description": "稻谷种植与销售"},  # 0111 or 111?
            {"name": "乙", "industry_code": 111},
            {"name": "丙", "industry_code": 690},  # 0690 only: 690 is no code
            {"name": "丁", "industry_code": "0111"},  # text keeps its zero
        ],
        {"稻谷种植与销售": "0111"},
    )
    assert list(batch.cols[S.INDUSTRY_CODE]) == ["0111", "0690", "0111"]
    assert "设为文本" in batch.warnings[0][0]
    assert errors[2][0] == S.INDUSTRY_CODE and "0111" in errors[2][1] and "设为文本" in errors[2][1]


def test_industry_given_as_a_name_and_text_without_content() -> None:
    batch, errors, inferer = run(
        [
            {"name": "甲", "industry": "软件开发"},  # a 中类 name, no description: matched at that level
            {"name": "乙", "industry": "软件和信息技术服务业", "description": "应用软件开发"},
            {"name": "丙", "description": "\x00\x00\x00"},
            {"name": "丁", "description": "🚀🚀🚀"},
            {"name": "戊", "description": "某某某"},  # characters no class name or example uses
        ],
        {"应用软件开发": "6513"},
    )
    assert list(batch.cols[S.INDUSTRY_CODE]) == ["651", "6513"]
    assert ("应用软件开发", ["65"]) in inferer.calls
    assert errors[3][0] == S.INDUSTRY_CODE and errors[4][0] == S.INDUSTRY_CODE
    assert errors[5][0] == S.DESCRIPTION and "无法推断" in errors[5][1]


def test_origins_functional_zones_addresses_and_other_provinces() -> None:
    assert parse_origin("北京经济技术开发区").adcode == "110115"  # type: ignore[union-attr]
    assert "大兴区" in (parse_origin("亦庄").note or "")  # type: ignore[union-attr]
    assert parse_origin("天津市滨海新区").outside_beijing  # type: ignore[union-attr]
    assert origin_from_address("北京市海淀区中关村大街1号").adcode == "110108"  # type: ignore[union-attr]
    assert credit_code_outside_beijing("91120116MA05J1234X")
    assert not credit_code_outside_beijing("91110108MA01A1234X")
    batch, errors, _ = run(
        [
            {"name": "甲", "industry_code": "2710", "origin_district": "北京经济技术开发区"},
            {"name": "乙", "industry_code": "2710", "registered_address": "北京市顺义区空港街道"},
            {"name": "丙", "industry_code": "2710", "origin_district": "天津市武清区"},
            {"name": "丁", "industry_code": "2710", "registration_status": "注销"},
            {"name": "戊", "industry_code": "2710", "credit_code": "91120116MA05J1234X"},
            {"name": "己", "industry_code": "2710", "origin_district": "火星区"},
        ]
    )
    assert list(batch.cols[S.ORIGIN_DISTRICT]) == ["110115", "110113", "", "", ""]
    assert "北京经济技术开发区" in batch.warnings[0][0]
    assert "不在北京" in batch.warnings[2][0]
    assert "注销" in batch.warnings[3][0]
    assert "登记机关不在北京" in batch.warnings[4][0]
    assert batch.cols[S.FIRM_ID][4] == "91120116MA05J1234X"  # the credit code identifies the firm
    assert errors[6][0] == S.ORIGIN_DISTRICT and "不是北京的区" in errors[6][1]


def test_chinese_function_and_subsidy_values() -> None:
    batch, errors = validate_columns(
        columns_from_records(
            [
                {
                    "name": "甲",
                    "industry_code": "2710",
                    "functions": "生产、研发",
                    "subsidy_priorities": "土地，人才",
                },
                {"name": "乙", "industry_code": "2710", "functions": "飞行"},
            ]
        )
    )
    assert batch.cols[S.FUNCTIONS_COL][0] == ["production", "rnd"]
    assert batch.cols[S.SUBSIDY_PRIORITIES][0] == ["land", "talent"]
    assert errors[0].field == S.FUNCTIONS_COL and "飞行" in errors[0].reason and "生产" in errors[0].reason


def test_imputed_values_are_shown_and_marked() -> None:
    batch, _, _ = run([{"name": "甲", "description": "冷链仓储"}], {"冷链仓储": "5930"})
    values = imputed_values(batch, 0)
    assert values[S.INDUSTRY_CODE] == "5930（低温仓储）（估）"
    assert values[S.MAX_DISTANCE_KM].endswith("公里（估）")
    assert values[S.LAND_NEED_MU].endswith("亩（估）")


def test_headcount_bands() -> None:
    assert parse_headcount("少于50人") == (25.0, "员工人数“少于50人”按 25 人计")
    assert parse_headcount("1000人以上")[0] == 1000.0
    assert parse_headcount("很多") == (None, None)


@pytest.fixture(scope="module")
def standard_inferer() -> IndustryInferer:
    """Fitted on the standard's own names only, with no division classifier: what the synonym
    table, the item-by-item reading and the activity words add to the centroids is then visible."""
    return IndustryInferer(division_classifier=False).fit()


@pytest.fixture(scope="module")
def division_inferer() -> IndustryInferer:
    """The standard's names, and the division classifier fitted on the real labelled text."""
    return IndustryInferer().fit()


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("3D打印设备研发与销售", {"3493", "7517"}),  # not 3749 航空航天器 on the shared characters
        ("航空食品配送", {"6241"}),  # in-flight catering, not aircraft
        ("冷链物流", {"5930", "5432", "5431"}),
        ("数据中心运营", {"6450", "6550"}),
    ],
)
def test_synonyms_steer_modern_terms(standard_inferer: IndustryInferer, text: str, codes: set[str]) -> None:
    res = standard_inferer.infer([text])[0]
    assert res.code in codes and res.synonyms


def test_no_content_gives_no_code_and_low_similarity_is_uncertain(standard_inferer: IndustryInferer) -> None:
    assert [r.code for r in standard_inferer.infer(["\x00\x00", "🙂🙂", "   "])] == [None, None, None]
    vague = standard_inferer.infer(["其他"])[0]
    assert vague.code is not None and vague.uncertain
    assert [s.term for s in synonym_hits("冷链物流园")] == ["物流园", "冷链"]


# A registry-style 经营范围 of a drug maker: headings, licence brackets and the items every firm
# lists around two trade items.
PHARMA_SCOPE = (
    "许可项目：化学药品制剂生产；原料药生产；药品批发（依法须经批准的项目，经相关部门批准后方可开展经营活动，"
    "具体经营项目以相关部门批准文件或许可证件为准）。一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、"
    "技术推广；软件开发；信息技术咨询服务；货物进出口；以自有资金从事投资活动；企业管理咨询"
)


def test_scope_clauses_keep_the_trade_items_in_order() -> None:
    trade = ["化学药品制剂生产", "原料药生产", "药品批发", "软件开发", "信息技术咨询服务"]
    assert scope_clauses(PHARMA_SCOPE) == trade
    assert scope_clauses("北京医药企业，建设以原料药为主的生物医药生产基地") == [
        "北京医药企业",
        "建设以原料药为主的生物医药生产基地",
    ]
    assert scope_clauses("（依法须经批准的项目）；🙂") == []


def test_a_registry_scope_is_read_by_its_trade_items_not_its_boilerplate(
    standard_inferer: IndustryInferer,
) -> None:
    """Read whole, the technology boilerplate makes a drug maker 65 (software); item by item, the
    first items decide."""
    res = standard_inferer.infer([PHARMA_SCOPE])[0]
    assert res.code is not None and res.code[:2] == "27"
    sims = (standard_inferer._fast([with_hints(PHARMA_SCOPE)]) @ standard_inferer._centroids_t).toarray()[0]
    assert standard_inferer.classes_[int(sims.argmax())][:2] == "65"


def test_a_short_description_scores_as_before(standard_inferer: IndustryInferer) -> None:
    """A text of fewer than SCOPE_MIN_CLAUSES items is one unit: with no synonym and no activity
    word, its score is its own cosine."""
    text = "滑动轴承与齿轮"
    units, owner, weight = scoring_units([text])
    assert (units, owner, weight) == ([text], [0], [1.0])
    res = standard_inferer.infer([text])[0]
    sims = (standard_inferer._fast([with_hints(text)]) @ standard_inferer._centroids_t).toarray()[0]
    assert not res.synonyms and not activity_divisions(text)
    assert res.code == standard_inferer.classes_[int(sims.argmax())]
    assert res.confidence == pytest.approx(float(sims.max()), abs=1e-6)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("保健品生产", 13, 43),  # a maker, not 5126 营养和保健品批发 on the shared product characters
        ("花卉批发商户", 51, 51),  # merchants, not 0143 花卉种植
    ],
)
def test_the_activity_word_decides_the_section(
    standard_inferer: IndustryInferer, monkeypatch: pytest.MonkeyPatch, text: str, low: int, high: int
) -> None:
    code = standard_inferer.infer([text])[0].code
    assert code is not None and low <= int(code[:2]) <= high
    assert activity_divisions(text) == [(low, high)]
    monkeypatch.setattr("features.embeddings.ACTIVITY_BOOST", 0.0)
    plain = standard_inferer.infer([text])[0].code
    assert plain is not None and not low <= int(plain[:2]) <= high


def test_the_division_classifier_is_fitted_on_real_text_never_on_the_measured_halves() -> None:
    texts, divisions = division_training_texts()
    assert len(texts) == len(divisions) > 1000
    measured = {t for t, _, name in labelled_industry_texts() if not name.endswith("_dev")}
    assert not measured & set(texts)  # test halves, relocation corpus, measured 说明 texts
    dev = {t for t, _, name in labelled_industry_texts() if name.endswith("_dev")}
    assert dev <= set(texts) | {t for t in dev if not has_content(t)}
    assert all(len(d) == 2 and d.isdigit() for d in divisions)


def test_the_classifier_picks_the_division_and_the_centroids_the_class(
    division_inferer: IndustryInferer, standard_inferer: IndustryInferer
) -> None:
    texts = [PHARMA_SCOPE, "保健品生产", "冷链物流", "滑动轴承与齿轮", "🙂"]
    got = division_inferer.infer(texts)
    assert got[-1].code is None  # no content, no code, with or without the classifier
    for text, res in zip(texts[:-1], got[:-1], strict=True):
        assert res.code is not None
        # the class is the best centroid score inside the chosen division
        alone = standard_inferer.infer([text], allowed=[[res.code[:2]]])[0]
        assert alone.code == res.code, text
    assert got[0].code is not None and got[0].code[:2] == "27"
    # a code's allowed prefixes still bind: the division is chosen among them
    limited = division_inferer.infer([PHARMA_SCOPE], allowed=[["51"]])[0]
    assert limited.code is not None and limited.code.startswith("51")


def test_a_bundle_without_a_division_classifier_still_infers(
    division_inferer: IndustryInferer, tmp_path: Path
) -> None:
    division_inferer.save(tmp_path)
    (tmp_path / "inferer_division_coef.npy").unlink()
    with pytest.raises(FileNotFoundError):  # a classifier whose files are gone is not dropped quietly
        IndustryInferer.load(tmp_path)
    # a bundle written before the classifier: neither its files nor its parameters
    for name in ("inferer_division.json", "inferer_division_tfidf.json"):
        (tmp_path / name).unlink()
    params = json.loads((tmp_path / "inferer_params.json").read_text(encoding="utf-8"))
    params = {k: v for k, v in params.items() if not k.startswith("division_")}
    (tmp_path / "inferer_params.json").write_text(json.dumps(params), encoding="utf-8")
    old = IndustryInferer.load(tmp_path)
    assert old.division_coef_ is None
    assert [r.code for r in old.infer(["滑动轴承与齿轮", "🙂"])][1] is None
    assert old.infer(["滑动轴承与齿轮"])[0].code is not None


def test_the_confidence_is_a_calibrated_probability_that_the_division_is_right(
    division_inferer: IndustryInferer, tmp_path: Path
) -> None:
    """The classifier's lead over the next division, turned into a probability on out-of-fold
    leads, says which guesses to check: on the listed companies' held-out scopes and 主营业务 the
    guesses flagged 待核实 are right clearly less often than the others (the cosine flag, on the
    same texts, separated them no better than chance), and on average the stated probability
    is about how often the guesses are right."""
    assert division_inferer.calibration_ is not None
    _intercept, slope = division_inferer.calibration_
    assert slope > 0
    leads = [division_inferer.calibrated_confidence(m) for m in (0.0, 0.5, 1.0, 2.0, float("inf"))]
    assert leads == sorted(leads) and leads[-1] == 1.0 and 0.0 < leads[0] < 0.6
    held_out = [
        (t, c)
        for t, c, name in labelled_industry_texts()
        if name.startswith("listed_") and name.endswith("_test")
    ]
    results = division_inferer.infer([t for t, _ in held_out])
    right = np.array([(r.code or "")[:2] == c[:2] for r, (_, c) in zip(results, held_out, strict=True)])
    flagged = np.array([r.uncertain for r in results])
    assert all(r.calibrated and r.threshold == 0.5 for r in results if r.code is not None)
    assert 0.2 < flagged.mean() < 0.8
    assert right[~flagged].mean() - right[flagged].mean() > 0.15
    confidence = np.array([r.confidence for r in results])
    assert abs(confidence.mean() - right.mean()) < 0.1  # calibrated on average, out of sample
    # the calibration is learned state: it survives the bundle
    division_inferer.save(tmp_path)
    again = IndustryInferer.load(tmp_path)
    assert again.calibration_ == division_inferer.calibration_
    assert [r.confidence for r in again.infer(["滑动轴承与齿轮"])] == [
        r.confidence for r in division_inferer.infer(["滑动轴承与齿轮"])
    ]


def test_an_uncertain_guess_is_marked_and_explained_to_the_officer(division_inferer: IndustryInferer) -> None:
    batch, errors = prepare(
        columns_from_records(
            [{"name": "某公司", "description": "其他"}, {"name": "某药企", "description": PHARMA_SCOPE}]
        ),
        Priors.bundled(),
        division_inferer,
    )
    assert not errors
    guesses = division_inferer.infer(["其他", PHARMA_SCOPE])
    for i, guess in enumerate(guesses):
        mark = imputed_values(batch, i)[S.INDUSTRY_CODE]
        said = [w for w in batch.warnings[i] if "把握不大" in w]
        if guess.uncertain:
            assert mark.endswith("（估，待核实）") and said and f"{guess.confidence:.0%}" in said[0], (
                mark,
                said,
            )
        else:
            assert mark.endswith("（估）") and not said, (mark, said)
    assert guesses[0].uncertain and not guesses[1].uncertain

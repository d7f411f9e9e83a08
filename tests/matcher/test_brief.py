"""Briefs: content from the one scoring path, laid out on A4 with embedded Chinese glyphs.

The PDFs are read back (pypdfium2 for text and page images, pypdf for the font objects), so
these tests check what an officer's reader would show, not what the renderer meant to draw.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader

from features import schemas as S
from matcher.brief import (
    FirmBrief,
    ParkBrief,
    constraint_lines,
    firm_brief,
    leads_for_brief,
    park_brief,
    park_fact,
    parse_leads,
    read_leads,
    runner_up_text,
)
from matcher.brief_pdf import _safe, firm_brief_pdf, missing_glyphs, park_brief_pdf
from matcher.core import Matcher

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DAY = dt.date(2026, 12, 2)
# The officer gives a distance limit, so the distance rule binds; land need is left to impute.
FIRM = {
    "name": "北京某原料药有限公司",
    "industry_code": "2710",
    "functions": ["production"],
    "employees": 300,
    "max_distance_km": 150,
    "origin_district": "大兴区",
}


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pdf_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


def _save_page(data: bytes, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / name
    pdfium.PdfDocument(data)[0].render(scale=2).to_pil().save(out)
    return out


@pytest.fixture(scope="module")
def brief(matcher: Matcher) -> FirmBrief:
    return firm_brief(matcher, FIRM, DAY)


@pytest.fixture(scope="module")
def firm_pdf(brief: FirmBrief) -> bytes:
    return firm_brief_pdf(brief)


@pytest.fixture(scope="module")
def park_doc(matcher: Matcher, brief: FirmBrief) -> ParkBrief:
    first, second = brief.parks[0], brief.parks[1]
    leads = parse_leads(
        [
            {
                "firm_name": "北京某医药流通有限公司",
                "lead_score": 1.8,
                "relocation_pressure": 0.72,
                "park_rank": 2,
                "competitor": second.name,
                "reasons": ["主导产业与企业行业同链", "距北京较近"],
            },
            {"企业名称": "北京某生物技术有限公司", "线索得分": "2.4", "迁出压力": "0.9", "本园排名": "1"},
        ]
    )
    what_if = ["北京某医药流通有限公司：若园区公布可用土地，本园区在该企业的推荐中可望升至第 1 名"]
    return park_brief(matcher.parks, first.park_id, matcher.model_version, leads, what_if, DAY)


def test_firm_brief_holds_what_the_recommendation_returns(matcher: Matcher, brief: FirmBrief) -> None:
    result = matcher.recommend(FIRM, top=5, explain_excluded=True)
    assert [p.name for p in brief.parks] == [r.park_name for r in result.recommendations]
    assert [p.reasons for p in brief.parks] == [tuple(r.reasons) for r in result.recommendations]
    assert brief.model_version == "test-small" and brief.date == "2026-12-02"
    profile = {f.label: f.text for f in brief.profile}
    assert profile["员工人数"] == "300 人" and profile["所属区县"] == "大兴区"
    assert profile["用地需求(亩)"].endswith("（估）")  # imputed, and marked as such
    assert "（估）" not in profile["最大距离(公里)"]  # given by the officer


def test_firm_brief_pdf_is_one_page_holding_names_reasons_and_version(
    brief: FirmBrief, firm_pdf: bytes
) -> None:
    pages = _pdf_text(firm_pdf)
    assert len(pages) == 1
    text = _flat(pages[0])
    for needed in [brief.firm_name, "test-small", *(p.name for p in brief.parks)]:
        assert _flat(needed) in text
    for park in brief.parks:
        for reason in park.reasons:
            assert _flat(reason) in text
    # every string the brief meant to print is on the page, character for character
    assert [s for s in brief.texts() if _flat(s) not in text] == []
    _save_page(firm_pdf, "brief_firm.png")


def _fonts(data: bytes) -> list[dict[str, object]]:
    out = []
    for page in PdfReader(__import__("io").BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            desc = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            out.append({"name": str(font["/BaseFont"]), "descriptor": desc.get_object() if desc else None})
    return out


def test_every_font_is_embedded_and_every_character_has_a_glyph(brief: FirmBrief, firm_pdf: bytes) -> None:
    fonts = _fonts(firm_pdf)
    assert fonts
    for font in fonts:
        desc = font["descriptor"]
        assert desc is not None and ("/FontFile2" in desc or "/FontFile3" in desc), font["name"]  # type: ignore[operator]
    assert missing_glyphs("".join(brief.texts())) == set()


def test_a_character_the_font_lacks_is_spelled_out_not_boxed() -> None:
    rare = "\U0002a6a5"  # CJK Extension B, outside the font's GBK coverage
    assert missing_glyphs(f"企业{rare}") == {rare}
    assert _safe(f"企业{rare}&") == "企业U+2A6A5&amp;"


def test_runner_up_names_the_criteria_where_the_second_park_falls_behind() -> None:
    def rec(rank: int, name: str, score: float, chain: float, land: float | None) -> S.Recommendation:
        criteria = {"industry_chain": chain, "land": land, "talent": 0.5, "subsidy": 0.5, "proximity": 0.9}
        return S.Recommendation(
            rank=rank, park_id=f"P{rank}", park_name=name, province="河北省", city="廊坊市",
            county="固安县", adcode="131022", score=score, criteria=criteria, reasons=[],
        )  # fmt: skip

    text = runner_up_text([rec(1, "甲园区", 2.0, 0.9, None), rec(2, "乙园区", 1.5, 0.4, 0.8)])
    assert "第二名乙园区的综合得分比第一名甲园区低 0.50" in text
    assert "产业链（0.40，第一名 0.90）" in text
    assert "土地一方或双方数据未知，未作比较" in text
    assert runner_up_text([rec(1, "甲园区", 2.0, 0.9, None)]).startswith("只有一个可行园区")


def test_binding_constraints_count_the_parks_each_rule_removed(matcher: Matcher, brief: FirmBrief) -> None:
    batch, result = matcher.recommend_one(FIRM, top=5, explain_excluded=True)
    far = sum(1 for ex in result.excluded if ex.rule == "distance")
    assert far > 0  # the fixture's 150 km limit rules out the distant parks
    lines = constraint_lines(batch, result)
    assert lines[0] == f"距北京超过企业可接受的最大距离：排除 {far} 个园区（企业可接受最远 150 公里）。"
    assert "用地需求(亩)" in lines[-1] and "不作为排除条件" in lines[-1]
    assert list(brief.constraints) == lines


def test_park_values_carry_their_provenance_and_unknown_stays_unknown() -> None:
    row = {S.DISTANCE_KM: 120.4, S.AVAILABLE_LAND_MU: math.nan, S.LAND_PRICE: 250_000.0, S.TALENT_POOL: 0.5}
    prov = {S.DISTANCE_KM: "sourced", S.AVAILABLE_LAND_MU: "estimated", S.LAND_PRICE: "official"}
    assert park_fact(row, S.DISTANCE_KM, prov).text == "120 公里（有来源）"
    assert park_fact(row, S.AVAILABLE_LAND_MU, prov).text == "未知"  # NaN is never a number
    assert park_fact(row, S.LAND_PRICE, prov).text == "25.0 万元/亩（官方）"
    assert park_fact(row, S.TALENT_POOL, prov).text == "未知"  # no provenance row: not quoted


def test_park_brief_lists_facts_functions_leads_and_what_if(park_doc: ParkBrief) -> None:
    assert [lead.firm_name for lead in park_doc.leads] == ["北京某生物技术有限公司", "北京某医药流通有限公司"]
    data = park_brief_pdf(park_doc)
    pages = _pdf_text(data)
    text = _flat("".join(pages))
    assert [s for s in park_doc.texts() if _flat(s) not in text] == []
    for needed in (park_doc.name, "test-small", "0.72", "第 2 名", "本园区为其首选", park_doc.what_if[0]):
        assert _flat(needed) in text
    assert missing_glyphs("".join(park_doc.texts())) == set()
    assert all("/FontFile2" in f["descriptor"] for f in _fonts(data))  # type: ignore[operator]
    _save_page(data, "brief_park.png")


def test_an_unknown_park_is_refused(matcher: Matcher) -> None:
    with pytest.raises(KeyError):
        park_brief(matcher.parks, "NO-SUCH-PARK", matcher.model_version)


def test_lead_files_in_csv_and_json_and_errors_naming_row_and_field(tmp_path: Path) -> None:
    good = tmp_path / "leads.csv"
    good.write_text("企业名称,线索得分,迁出压力,理由\n北京某公司,1.5,0.6,同链；近\n", encoding="utf-8")
    rows, what_if = read_leads(good)
    assert rows == [
        S.LeadRow(firm_name="北京某公司", lead_score=1.5, relocation_pressure=0.6, reasons=["同链", "近"])
    ]
    assert what_if == []
    doc = tmp_path / "leads.json"
    doc.write_text('{"leads": [{"firm_name": "甲", "lead_score": 1}], "what_if": ["若……"]}', encoding="utf-8")
    assert read_leads(doc)[1] == ["若……"]
    bad = tmp_path / "bad.csv"
    bad.write_text("企业名称,线索得分,迁出压力\n甲,1,0.5\n乙,1,1.7\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"第 2 行：字段“迁出压力”（relocation_pressure）：不能大于 1"):
        read_leads(bad)


def test_park_brief_leads_come_from_the_leads_path(matcher: Matcher) -> None:
    """Leads found in a firm list by :func:`matcher.leads.leads_for_batch` are what the brief
    prints: same firms in the same order, the pressure and the competitor of each."""
    from features.validation import columns_from_records
    from matcher.leads import leads_for_batch

    firms = [
        {"name": "北京某原料药企业甲", "industry_code": "2710", "functions": ["production"]},
        {"name": "北京某软件公司乙", "industry_code": "6513", "functions": ["rnd"]},
        {"name": "北京某服装批发商户丙", "industry_code": "5132", "functions": ["wholesale"]},
    ]
    batch, errors = matcher.prepare(columns_from_records(firms))
    assert not errors
    park_id = "HE082"
    rows, what_if = leads_for_brief(matcher, batch, park_id, top=3)
    direct = leads_for_batch(matcher, batch, park_id, 3)
    assert [r.firm_name for r in rows] == [d[S.FIRM_NAME] for d in direct]
    for row, d in zip(rows, direct, strict=True):
        assert row.relocation_pressure == d[S.PRESSURE] and row.park_rank == d[S.PARK_RANK]
        assert (row.competitor is None) == (d["first_choice_park_id"] == park_id)
    assert all(line.split("：")[0] in {f["name"] for f in firms} for line in what_if)
    doc = park_brief(matcher.parks, park_id, matcher.model_version, rows, what_if, DAY)
    text = _flat("".join(_pdf_text(park_brief_pdf(doc))))
    assert _flat(rows[0].firm_name) in text

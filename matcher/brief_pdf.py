"""Lay a brief out as an A4 PDF with embedded Chinese glyphs (reportlab).

The content comes whole from :mod:`matcher.brief`; this module only places it.  The font is
WenQuanYi Micro Hei (文泉驿微米黑, Apache License 2.0, stated in the font's own name table),
shipped by the ``paperang-p2-fonts-cjk`` package that the project's dependencies install, so a
brief renders the same offline on any machine, whatever fonts the system has.  It has TrueType
(glyf) outlines, which reportlab subsets and embeds as FontFile2: the reader needs no Chinese
font of its own.  A character the font lacks is printed as its code point (U+XXXX) rather than
as an empty box, so nothing an officer sends up is silently unreadable.

The firm brief is one page by construction: the content sits in a frame that shrinks it to fit.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from features import schemas as S
from matcher.brief import MAP_NOTE, RINGS_KM, Fact, FirmBrief, MapPoint, ParkBrief

FONT = "ParkmatchCJK"
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "fonts/wqy-microhei.ttc"
MARGIN = 12 * mm
WIDTH = A4[0] - 2 * MARGIN
HEIGHT = A4[1] - 2 * MARGIN
MAP_SIZE = 62 * mm
INK = colors.HexColor("#1F3A68")
RULE = colors.HexColor("#9AA8BF")
SHADE = colors.HexColor("#EEF2F8")
MARK = colors.HexColor("#C0392B")
GREY = colors.HexColor("#9A9A9A")
KM_PER_DEG_LAT = 110.57


def font_path() -> Path:
    """The CJK font file inside its package."""
    return Path(str(resources.files(FONT_PACKAGE).joinpath(FONT_FILE)))


@functools.cache
def _font() -> TTFont:
    font = TTFont(FONT, str(font_path()), subfontIndex=0)
    pdfmetrics.registerFont(font)
    return font


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` the embedded font cannot draw (they would print as boxes)."""
    cmap = _font().face.charToGlyph
    return {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}


def _safe(text: str) -> str:
    """Escaped for reportlab's paragraph markup, each undrawable character spelled U+XXXX."""
    gaps = missing_glyphs(text)
    if gaps:
        text = "".join(f"U+{ord(ch):04X}" if ch in gaps else ch for ch in text)
    return escape(text)


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    _font()
    base = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11.5, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=15, leading=20, alignment=TA_CENTER, textColor=INK
        ),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=8, leading=11, alignment=TA_CENTER, textColor=GREY
        ),
        "h": ParagraphStyle(
            "h", parent=base, fontSize=10.5, leading=14, spaceBefore=5, spaceAfter=2, textColor=INK
        ),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=7.2, leading=9.6, textColor=colors.HexColor("#444444")
        ),
        "head": ParagraphStyle("head", parent=base, fontSize=8, leading=10.5, textColor=colors.white),
    }


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(_safe(text), _styles()[style])


def _grid(widths: Sequence[float], rows: list[list[Flowable | str]], header: bool = False) -> Table:
    table = Table(rows, colWidths=list(widths))
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), INK))
    table.setStyle(TableStyle(style))
    return table


def _beside(side: list[Flowable], figure: list[Flowable], left: float) -> Table:
    """The facts column and the map, side by side."""
    table = Table([[side, figure]], colWidths=[left + 4 * mm, MAP_SIZE])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _facts(facts: Sequence[Fact], width: float) -> Table:
    label = 22 * mm
    return _grid([label, width - label], [[_p(f.label, "cell"), _p(f.text, "cell")] for f in facts])


# --- the map --------------------------------------------------------------------------------


def _xy(point: MapPoint) -> tuple[float, float]:
    """km east and north of 天安门 (a local equirectangular projection, good to a few km here)."""
    kx = KM_PER_DEG_LAT * 1.0068 * math.cos(math.radians(S.BEIJING_LAT))
    return (point.lng - S.BEIJING_LNG) * kx, (point.lat - S.BEIJING_LAT) * KM_PER_DEG_LAT


def map_drawing(points: Sequence[MapPoint], size: float = MAP_SIZE) -> Drawing:
    """Parks around 天安门 with distance rings; the ranked parks numbered, the rest grey dots.
    The scale grows to keep every ranked park on the map."""
    _font()
    ranked = [p for p in points if p.rank is not None]
    far = max([math.hypot(*_xy(p)) for p in ranked] + [float(RINGS_KM[-1])])
    half = far * 1.08
    scale = size / (2 * half)
    cx = cy = size / 2
    d = Drawing(size, size)
    d.initialFontName = FONT  # the renderer's starting font; else it names Helvetica
    d.add(Rect(0, 0, size, size, fillColor=SHADE, strokeColor=RULE, strokeWidth=0.5))
    for km in RINGS_KM:
        d.add(
            Circle(
                cx, cy, km * scale, fillColor=None, strokeColor=RULE, strokeWidth=0.5, strokeDashArray=[2, 2]
            )
        )
        d.add(String(cx + 1.5, cy + km * scale + 1, f"{km}公里", fontName=FONT, fontSize=5, fillColor=GREY))
    for p in points:
        if p.rank is not None:
            continue
        x, y = _xy(p)
        if abs(x) < half and abs(y) < half:
            d.add(Circle(cx + x * scale, cy + y * scale, 0.8, fillColor=GREY, strokeColor=None))
    d.add(Circle(cx, cy, 2.2, fillColor=INK, strokeColor=None))
    d.add(String(cx + 3, cy - 7, "天安门", fontName=FONT, fontSize=6, fillColor=INK))
    for p in sorted(ranked, key=lambda q: -(q.rank or 0)):
        x, y = _xy(p)
        px, py = cx + x * scale, cy + y * scale
        d.add(Circle(px, py, 4.2, fillColor=MARK, strokeColor=colors.white, strokeWidth=0.5))
        d.add(
            String(
                px,
                py - 2.1,
                str(p.rank),
                fontName=FONT,
                fontSize=6,
                fillColor=colors.white,
                textAnchor="middle",
            )
        )
    return d


# --- documents ------------------------------------------------------------------------------


def _pdf(story: list[Flowable], title: str, fit_one_page: bool) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="parkmatch",
        initialFontName=FONT,  # else every page names an unembedded Helvetica
    )
    if fit_one_page:
        story = [KeepInFrame(WIDTH, HEIGHT - 6, story, mode="shrink")]
    doc.build(story)
    return buf.getvalue()


def _notes(notes: Sequence[str]) -> list[Flowable]:
    return [_p(n, "small") for n in notes]


def firm_brief_pdf(brief: FirmBrief) -> bytes:
    """The firm brief on one A4 page."""
    left = WIDTH - MAP_SIZE - 4 * mm
    side: list[Flowable] = [_p("一、企业情况", "h"), _facts(brief.profile, left)]
    if brief.warnings:
        side.append(_p("提示：" + "；".join(brief.warnings), "small"))
    figure: list[Flowable] = [map_drawing(brief.points), Spacer(1, 2), _p(MAP_NOTE, "small")]
    top = _beside(side, figure, left)
    story: list[Flowable] = [
        _p(brief.title, "title"),
        _p(f"企业：{brief.firm_name}　　日期：{brief.date}　　模型版本：{brief.model_version}", "meta"),
        top,
        _p(f"二、推荐园区（前 {len(brief.parks)} 名）", "h"),
    ]
    if brief.parks:
        story.append(_parks_table(brief))
    else:
        story.append(_p(brief.no_match or "没有可推荐的园区。"))
    story += [_p("三、第二名为何靠后", "h"), _p(brief.runner_up)]
    story += [_p("四、起作用的硬性条件", "h"), *(_p(line) for line in brief.constraints)]
    story += [_p("说明", "h"), *_notes([*brief.notes, brief.catalogue_summary])]
    return _pdf(story, f"{brief.title}：{brief.firm_name}", fit_one_page=True)


def _parks_table(brief: FirmBrief) -> Table:
    crit = [f.label for f in brief.parks[0].criteria]
    widths = [9 * mm, 52 * mm, 38 * mm, 16 * mm, *([(WIDTH - 115 * mm) / len(crit)] * len(crit))]
    rows: list[list[Flowable | str]] = [
        [_p(h, "head") for h in ["排名", "园区", "所在地", "综合得分", *crit]]
    ]
    spans: list[tuple[str, tuple[int, int], tuple[int, int]]] = []
    for park in brief.parks:
        rows.append(
            [
                _p(str(park.rank), "cell"),
                _p(park.name, "cell"),
                _p(park.place, "cell"),
                _p(f"{park.score:.2f}", "cell"),
                *(_p(f.text, "cell") for f in park.criteria),
            ]
        )
        detail = (
            "理由："
            + "；".join(park.reasons)
            + "。园区数据："
            + "；".join(f"{f.label} {f.text}" for f in park.facts)
        )
        rows.append([_p(detail, "small"), *([""] * (len(widths) - 1))])
        spans.append(("SPAN", (0, len(rows) - 1), (-1, len(rows) - 1)))
    table = _grid(widths, rows, header=True)
    shade = [("BACKGROUND", (0, r), (-1, r), SHADE) for r in range(1, len(rows), 2)]
    table.setStyle(TableStyle([*spans, *shade]))
    return table


def park_brief_pdf(brief: ParkBrief) -> bytes:
    """The park brief: facts, designated functions, leads and what-if, on A4."""
    left = WIDTH - MAP_SIZE - 4 * mm
    side: list[Flowable] = [_p("一、园区基本情况", "h"), _facts(brief.facts, left)]
    figure: list[Flowable] = [
        map_drawing(brief.points),
        Spacer(1, 2),
        _p("圆圈为距天安门 50、100、150、200 公里；红点为本园区，灰点为目录中其他园区。", "small"),
    ]
    top = _beside(side, figure, left)
    story: list[Flowable] = [
        _p(brief.title, "title"),
        _p(
            f"园区：{brief.name}（{brief.place}）　　日期：{brief.date}　　模型版本：{brief.model_version}",
            "meta",
        ),
        top,
        _p("二、定向承接功能", "h"),
        _facts(brief.designated, WIDTH),
        _p(f"三、重点招商线索（前 {len(brief.leads)} 条）" if brief.leads else "三、重点招商线索", "h"),
    ]
    story.append(_leads_table(brief) if brief.leads else _p(brief.leads_note))
    story.append(_p("四、怎样让本园区排得更前（假设分析）", "h"))
    lines = brief.what_if or ("未提供假设分析。",)
    story += [_p(("· " if brief.what_if else "") + line) for line in lines]
    notes = [*brief.notes, brief.catalogue_summary]
    if brief.sources:
        notes.insert(0, "主要来源：" + "；".join(brief.sources))
    story += [_p("说明", "h"), *_notes(notes)]
    return _pdf(story, f"{brief.title}：{brief.name}", fit_one_page=True)


def _leads_table(brief: ParkBrief) -> Table:
    heads = ["序号", "企业", "线索得分", "迁出压力", "本园排名", "首选竞争园区", "理由"]
    widths = [9 * mm, 40 * mm, 14 * mm, 14 * mm, 14 * mm, 36 * mm]
    widths.append(WIDTH - sum(widths))
    rows: list[list[Flowable | str]] = [[_p(h, "head") for h in heads]]
    for i, lead in enumerate(brief.leads, start=1):
        pressure = S.UNKNOWN_ZH if lead.relocation_pressure is None else f"{lead.relocation_pressure:.2f}"
        rank = S.UNKNOWN_ZH if lead.park_rank is None else f"第 {lead.park_rank} 名"
        rows.append(
            [
                _p(str(i), "cell"),
                _p(lead.firm_name, "cell"),
                _p(f"{lead.lead_score:.2f}", "cell"),
                _p(pressure, "cell"),
                _p(rank, "cell"),
                _p(lead.competitor or "本园区为其首选", "cell"),
                _p("；".join(lead.reasons) or "—", "small"),
            ]
        )
    return _grid(widths, rows, header=True)

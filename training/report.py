"""Presentation of an evaluation document: rounding, JSON, the terminal table and the HTML report.

Why a module of its own: the figures are computed once (:mod:`training.evaluate`) and this module
only *reads* the resulting JSON-able dict, so the page, the table and ``--json`` can never disagree,
and the report can be re-rendered from a saved ``evaluation.json`` without re-running anything.
The HTML is self-contained (inline SVG, no scripts, no network) so it opens offline.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features import schemas as S

# --- numbers and JSON -----------------------------------------------------------------------


def rnd(v: float, nd: int = 4) -> float:
    """``v`` rounded to ``nd`` places, NaN for anything not finite (serialised as null)."""
    return round(float(v), nd) if math.isfinite(float(v)) else float("nan")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def to_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(dict(doc)), ensure_ascii=False, indent=2)


def _fmt_ci(c: Mapping[str, Any]) -> str:
    return f"{c['mean']:.3f} [{c['lo']:.3f}, {c['hi']:.3f}]"


def _rankers(split: Mapping[str, Any]) -> list[str]:
    """The rankers a split reports, in the order evaluation wrote them."""
    return list(split["rankers"])


def _curve_k(split: Mapping[str, Any]) -> list[int]:
    """The k of each point of the NDCG@k curves (they start at k = 1)."""
    first = next(iter(split["rankers"].values()))
    return list(range(1, len(first["ndcg_curve"]) + 1))


def omitted_needs_line(doc: Mapping[str, Any]) -> str:
    """One sentence on the ``officer_omits_needs`` setting, or why it was not run."""
    o = doc.get("omitted_needs") or {}
    share = o.get("share", float("nan"))
    head = f"{o.get('setting', 'officer_omits_needs')} (share {share:.0%} of test firms)"
    if o.get("skipped"):
        return f"{head}: skipped ({o.get('reason', 'not run')})"
    parts = []
    for split in ("temporal", "by_firm"):
        r = o.get(split, {}).get("rankers", {})
        if "model" in r and "scorecard" in r:
            model, card = r["model"]["ndcg@10"]["mean"], r["scorecard"]["ndcg@10"]["mean"]
            parts.append(f"{split} NDCG@10 model {model:.3f} / scorecard {card:.3f}")
    return f"{head}: " + ("; ".join(parts) or "no figures")


def table(doc: Mapping[str, Any]) -> str:
    """The terminal summary: one block per split, then coverage, real cases and acceptance."""
    lines = []
    for split in ("temporal", "by_firm"):
        s = doc[split]
        recall100 = s["retrieval"]["recall@K"].get("100", float("nan"))
        lines.append(
            f"{split}: {s['n_groups']:,} events (years {s['years'][0]}–{s['years'][-1]}), "
            f"chosen park retrieved {s['chosen_retrieved']:.1%}, retrieval Recall@100 {recall100:.3f}"
        )
        lines.append(f"  {'ranker':<11} {'NDCG@10 [95% CI]':<26} {'Hit@10':>7} {'MRR':>7}")
        for name in _rankers(s):
            r = s["rankers"][name]
            lines.append(
                f"  {name:<11} {_fmt_ci(r['ndcg@10']):<26} "
                f"{r['hit@10']['mean']:>7.3f} {r['mrr']['mean']:>7.3f}"
            )
    cov = doc["coverage"]
    c = cov["rankers"]["model"]
    lines.append(
        f"coverage ({cov['n_firms']:,} firms, top 10): {c['coverage']:.1%} of {cov['n_parks']} parks, "
        f"Gini {c['gini']:.3f}"
    )
    rr = doc["real_relocations"]["summary"]
    for name in ("model", "scorecard"):
        county, park = rr[name]["county@10"], rr[name]["park@10"]
        lines.append(
            f"real relocations ({doc['real_relocations']['n_scored']}) {name:<9}: "
            f"Hit@10 county {county['hits']}/{county['n']} ({county['rate']:.1%}), "
            f"park {park['hits']}/{park['n']}"
        )
    lines.append(omitted_needs_line(doc))
    a = doc["acceptance"]
    lines.append(
        f"acceptance: beats all baselines {a['beats_every_baseline_ndcg@10_non_overlapping']}, "
        f"{a['model_share_of_oracle_ndcg@10']:.1%} of oracle (target 90%), "
        f"coverage ≥60% {a['coverage_at_least_60pct']}"
    )
    return "\n".join(lines)


# --- HTML report (inline SVG, no extra dependencies) ----------------------------------------

COLORS = {
    "model": "#d62728",
    "random": "#7f7f7f",
    "popularity": "#8c564b",
    "distance": "#9467bd",
    "embedding": "#17becf",
    "scorecard": "#2ca02c",
    "oracle": "#1f77b4",
    "oracle_params": "#aec7e8",
}


def _esc(s: Any) -> str:
    return html.escape(str(s))


def _svg_open(w: float, h: float, font: int, title: str, tx: int, ty: int, style: str = "") -> str:
    """The opening ``<svg>`` tag and the bold title at (tx, ty)."""
    st = f' style="{style}"' if style else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-size="{font}"{st}>'
        f'<text x="{tx}" y="{ty}" font-weight="bold">{_esc(title)}</text>'
    )


def _legend(x: float, n: int, name: str) -> str:
    """The n-th legend entry: a colour square at ``x`` and the ranker's name."""
    y = 30 + 16 * n
    return (
        f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLORS.get(name, "#333")}"/>'
        f'<text x="{x + 14}" y="{y + 9}">{_esc(name)}</text>'
    )


def svg_lines(
    series: Mapping[str, Sequence[float]], xs: Sequence[int], title: str, w: int = 560, h: int = 300
) -> str:
    """One polyline per ranker (e.g. NDCG@k against k), with a legend on the right."""
    pad = 40
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    top = max([*vals, 1e-09])
    ymax = min(1.0, math.ceil(top * 10) / 10) if top <= 1 else top

    def px(i: int) -> float:
        return pad + (w - 2 * pad) * (i / max(len(xs) - 1, 1))

    def py(v: float) -> float:
        return h - pad - (h - 2 * pad) * (v / ymax)

    parts = [_svg_open(w + 120, h, 11, title, pad, 14)]
    for t in range(6):
        v = ymax * t / 5
        parts.append(
            f'<line x1="{pad}" x2="{w - pad}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
            f'<text x="4" y="{py(v) + 4:.1f}">{v:.2f}</text>'
        )
    for i, x in enumerate(xs):
        parts.append(f'<text x="{px(i) - 4:.1f}" y="{h - pad + 16}">{x}</text>')
    for n, (name, s) in enumerate(series.items()):
        pts = " ".join(
            f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(s) if v is not None and math.isfinite(v)
        )
        col = COLORS.get(name, "#333")
        wd = 3 if name == "model" else 1.5
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="{wd}" points="{pts}"/>')
        parts.append(_legend(w - pad + 10, n, name))
    parts.append("</svg>")
    return "".join(parts)


def svg_grouped_bars(
    cats: Sequence[str], series: Mapping[str, Sequence[float]], title: str, h: int = 300
) -> str:
    """For each category a group of bars, one per ranker."""
    pad, gw = 40, max(60, 14 * len(series) + 16)
    w = pad * 2 + gw * len(cats)
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    ymax = max([*vals, 1e-09])
    bw = (gw - 16) / max(len(series), 1)
    parts = [_svg_open(w + 120, h + 40, 10, title, pad, 14)]
    for c, cat in enumerate(cats):
        x0 = pad + c * gw + 8
        for n, (name, s) in enumerate(series.items()):
            v = s[c]
            if v is None or not math.isfinite(v):
                continue
            bh = (h - 2 * pad) * v / ymax
            parts.append(
                f'<rect x="{x0 + n * bw:.1f}" y="{h - pad - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                f'fill="{COLORS.get(name, "#333")}"><title>{_esc(name)} {v:.3f}</title></rect>'
            )
        ty = h - pad + 14
        parts.append(f'<text x="{x0}" y="{ty}" transform="rotate(20 {x0} {ty})">{_esc(cat)}</text>')
    for n, name in enumerate(series):
        parts.append(_legend(w + 4, n, name))
    parts.append("</svg>")
    return "".join(parts)


def svg_hbars(items: Sequence[tuple[str, float]], title: str, w: int = 520) -> str:
    """Horizontal bars with their values, e.g. feature-importance shares."""
    h = 24 + 18 * len(items)
    vmax = max([v for _, v in items] + [1e-9])
    parts = [_svg_open(w, h, 11, title, 4, 14)]
    for i, (name, v) in enumerate(items):
        y = 22 + 18 * i
        bw = (w - 230) * v / vmax
        parts.append(
            f'<text x="4" y="{y + 11}">{_esc(name)}</text>'
            f'<rect x="170" y="{y}" width="{bw:.1f}" height="13" fill="#4c78a8"/>'
            f'<text x="{174 + bw:.1f}" y="{y + 11}">{v:.3f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_park_map(points: Sequence[Mapping[str, Any]], title: str, w: int = 560, h: int = 560) -> str:
    """Parks on a lat/lng plane of the region, circle area proportional to ``count``."""
    lat0, lat1, lng0, lng1 = S.REGION_LAT[0], S.REGION_LAT[1], S.REGION_LNG[0], S.REGION_LNG[1]
    cmax = max([p["count"] for p in points] + [1])

    def xy(lat: float, lng: float) -> tuple[float, float]:
        return 20 + (w - 40) * (lng - lng0) / (lng1 - lng0), 30 + (h - 50) * (lat1 - lat) / (lat1 - lat0)

    parts = [_svg_open(w, h, 11, title, 8, 16, style="background:#fafafa")]
    bx, by = xy(S.BEIJING_LAT, S.BEIJING_LNG)
    parts.append(f'<text x="{bx - 4:.1f}" y="{by + 4:.1f}" fill="#000">★ 北京</text>')
    for p in sorted(points, key=lambda q: -q["count"]):
        x, y = xy(p["lat"], p["lng"])
        tip = f"<title>{_esc(p['name'])}: {p['count']}</title>"
        if p["count"] == 0:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="none" stroke="#999">{tip}</circle>'
            )
        else:
            r = 3 + 17 * math.sqrt(p["count"] / cmax)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#d62728" fill-opacity="0.35" '
                f'stroke="#d62728">{tip}</circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    # a table wider than a phone scrolls inside its box instead of widening the page
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}"
    ".wide{overflow-x:auto;max-width:100%}"
    "svg{display:block;margin:.8em 0;max-width:100%;height:auto}"
)


RANKER_CN = {
    "model": "本模型",
    "simulation_only": "仅用模拟数据训练的模型",
    "scorecard": "等权打分表",
    "popularity_by_function": "同类功能历史去向",
    "embedding": "文本相似度",
    "famous": "固定名单（2+4平台）",
}
TYPE_CN = {
    "manufacturer": "制造企业",
    "wholesale_market": "批发市场",
    "logistics": "物流企业",
    "data_centre": "数据中心",
    "soe_hq": "央企总部",
    "private_hq": "民企总部",
    "university": "高校",
    "hospital": "医院",
    "research_institute": "科研院所",
    "school": "中小学",
    "administrative_unit": "行政事业单位",
}


def real_cv_section(cv: Mapping[str, Any]) -> str:
    """The headline first, in plain Chinese: how often the real destination was in the top five."""
    m = cv["model"]
    lo, hi = m["ci95"]["county_hit@5"]
    lead = (
        f"<h2>真实迁移案例检验（{m['n']} 个有据可查的案例，按迁移批次分 {cv['folds']} 折交叉验证）</h2>"
        f"<p><b>在 {m['county_hit@5']:.0%} 的真实案例中，"
        "企业实际迁入的区县出现在本模型推荐的前 5 个园区之中</b>"
        f"（95% 区间 {lo:.0%}–{hi:.0%}）；前 10 个之中为 {m['county_hit@10']:.0%}，首位即命中为 "
        f"{m['county_hit@1']:.0%}。每一折只用其余各折的案例训练，被检验的案例从未参与训练。</p>"
        "<p>Metric names: county_hit@k = destination county among the counties of the top-k parks; "
        "park_hit@k = the documented park itself in the top k.</p>"
    )
    rows = [
        [
            RANKER_CN.get(r, r) + f" ({r})",
            v["county_hit@1"],
            v["county_hit@5"],
            v["county_hit@10"],
            v["park_hit@5"],
            v["industrial"]["county_hit@5"],
        ]
        for r, v in cv.items()
        if isinstance(v, Mapping) and "county_hit@5" in v
    ]
    table1 = _html_table(
        [
            "排序方法 (ranker)",
            "首位命中 hit@1",
            "前5命中 hit@5",
            "前10命中 hit@10",
            "园区前5 park@5",
            "产业类 hit@5",
        ],
        rows,
    )
    types = sorted(m["by_type"], key=lambda t: -m["by_type"][t]["n"])
    rows2 = [
        [TYPE_CN.get(t, t) + f" ({t})", m["by_type"][t]["n"]]
        + [cv[r]["by_type"][t]["county_hit@5"] for r in ("model", "simulation_only", "scorecard", "famous")]
        for t in types
    ]
    table2 = _html_table(["类型 (entity type)", "案例数", "本模型", "仅模拟", "打分表", "固定名单"], rows2)
    return lead + table1 + "<h3>按类型：前5命中率 (county_hit@5)</h3>" + table2


def render_html(doc: Mapping[str, Any]) -> str:
    """The whole report as one self-contained HTML page."""
    sec = []
    a = doc["acceptance"]
    sec.append(f"<h1>parkmatch offline evaluation — {_esc(doc['model_version'])}</h1>")
    sec.append(
        f"<p>World: {doc['world']['firms']:,} simulated firms, {doc['world']['events']:,} relocations. "
        f"{'Quick mode (small samples). ' if doc['quick'] else ''}"
        "All rankers are scored on the same candidate lists.</p>"
    )
    sec.append(real_cv_section(doc["real_cv"]))
    sec.append(
        "<h2>Acceptance</h2>"
        + _html_table(
            ["check", "result"],
            [
                [
                    "model beats every baseline on NDCG@10 (non-overlapping 95% CIs)",
                    a["beats_every_baseline_ndcg@10_non_overlapping"],
                ],
                [
                    "model NDCG@10 as share of oracle (target ≥ 90%)",
                    f"{a['model_share_of_oracle_ndcg@10']:.1%}",
                ],
                ["catalogue coverage of top 10 (target ≥ 60%)", f"{a['coverage']:.1%}"],
                [
                    "real relocations county Hit@10 model / scorecard",
                    f"{a['real_county_hit@10']['model']:.1%} / {a['real_county_hit@10']['scorecard']:.1%}",
                ],
            ],
        )
    )
    for split in ("temporal", "by_firm"):
        s = doc[split]
        sec.append(
            f"<h2>Split: {split}</h2><p>{s['n_groups']:,} events, years {s['years'][0]}–{s['years'][-1]}; "
            f"chosen park among the candidates in {s['chosen_retrieved']:.1%}.</p>"
        )
        if split == "by_firm":
            tr = s["training"]
            sec.append(f"<p>{_esc(tr['rule'])}; firms on both sides: {tr['firms_on_both_sides']}.</p>")
        rows = [
            [n, *[_fmt_ci(s["rankers"][n][m]) for m in ("ndcg@10", "hit@10", "mrr", "map@10")]]
            for n in _rankers(s)
        ]
        sec.append(_html_table(["ranker", "NDCG@10", "Hit@10", "MRR", "MAP@10"], rows))
        sec.append(
            svg_lines(
                {n: s["rankers"][n]["ndcg_curve"] for n in _rankers(s)}, _curve_k(s), f"NDCG@k, {split}"
            )
        )
        for kind in ("function", "division"):
            segs = [k for k, v in s["segments"][kind].items() if v["n"]]
            series = {
                n: [s["segments"][kind][g]["rankers"][n]["ndcg@10"]["mean"] for g in segs]
                for n in _rankers(s)
            }
            sec.append(
                svg_grouped_bars(
                    [f"{g} (n={s['segments'][kind][g]['n']})" for g in segs],
                    series,
                    f"NDCG@10 by {kind}, {split}",
                )
            )
        ret = s["retrieval"]
        sec.append(
            "<h3>Retrieval</h3>"
            + _html_table(
                ["Recall@K", *ret["recall@K"].keys(), "all feasible", "chosen excluded by hard rules"],
                [
                    [
                        "",
                        *ret["recall@K"].values(),
                        ret["recall_all_feasible"],
                        ret["chosen_excluded_by_hard_constraint"],
                    ]
                ],
            )
        )
    described = doc.get("omitted_needs", {}).get("description", "")
    sec.append(
        "<h2>Officer omits needs</h2><p>The splits above give every test firm's own needs as stated. "
        f"{_esc(described)}</p><p>{_esc(omitted_needs_line(doc))}</p>"
    )
    fi = doc["feature_importance"]
    sec.append("<h2>Feature importance (gain share)</h2>")
    sec.append(svg_hbars(list(fi["by_criterion"].items()), "by criterion"))
    sec.append(svg_hbars(list(fi["by_feature"].items())[:20], "top 20 features"))
    cov = doc["coverage"]
    sec.append(f"<h2>Coverage over {cov['n_firms']:,} simulated firms</h2>")
    sec.append(
        _html_table(
            ["ranker", "coverage", "Gini", "parks recommended"],
            [
                [n, f"{v['coverage']:.1%}", f"{v['gini']:.3f}", v["parks_recommended"]]
                for n, v in cov["rankers"].items()
            ],
        )
    )
    sec.append(
        svg_park_map(
            cov["model_counts"], "model top-10 recommendations per park (circle area ∝ count; hollow = never)"
        )
    )
    rr = doc["real_relocations"]
    sec.append(
        f"<h2>Real relocations ({rr['n_scored']} documented cases)</h2>"
        f"<p>{_esc(rr['park_match_rule'])}</p><p>{_esc(rr['county_match_rule'])}</p>"
    )
    sec.append(
        _html_table(
            [
                "ranker",
                "county Hit@5",
                "county Hit@10",
                "park Hit@5",
                "park Hit@10",
                "county Hit@10 (weighted)",
            ],
            [
                [
                    n,
                    *[f"{v[m]['hits']}/{v[m]['n']}" for m in ("county@5", "county@10", "park@5", "park@10")],
                    f"{v['county@10']['weighted_rate']:.1%}",
                ]
                for n, v in rr["summary"].items()
            ],
        )
    )
    sec.append("<h3>Model misses (county level, top 10)</h3>")
    sec.append(
        _html_table(
            ["case", "entity", "destination", "model top 3", "scorecard hit", "reason"],
            [
                [
                    c["case_id"],
                    c["entity"],
                    f"{c['destination_park'] or '—'} / {c['destination_county']}",
                    "；".join(c["model"]["top3"]),
                    c["scorecard"]["county_hit@10"],
                    c["reason"],
                ]
                for c in rr["misses_model_county@10"]
            ],
        )
    )
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>parkmatch evaluation</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sec)}</body></html>"
    )

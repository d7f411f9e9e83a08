"""``parkmatch recommend`` (one firm from a JSON file, ranked parks to standard output; ``--why``
and ``--compare`` for the park's side) and ``parkmatch leads`` / ``index-firms``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from features import schemas as S
from features.validation import FirmBatch, columns_from_records
from matcher.batch.readers import read_firm_table
from matcher.batch.writers import write_leads
from matcher.core import Matcher
from matcher.leads import FirmIndex, leads_for_batch, leads_frame, leads_result
from matcher.parkside import park_position
from matcher.whynot import compare, why


def read_profile(firm_path: Path) -> S.FirmProfile:
    """Parse and validate the firm; errors name the field, as the API's do."""
    text = sys.stdin.read() if str(firm_path) == "-" else firm_path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{firm_path}: not valid JSON ({exc})") from exc
    try:
        return S.FirmProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(profile)"
        raise ValueError(f"{firm_path}: field '{field}': {err['msg']}") from None


def format_table(result: S.RecommendationResult) -> str:
    lines = [f"firm {result.firm_id or '-'}  model {result.model_version}"]
    if result.imputed_values:
        lines.append(
            "估算: " + "；".join(f"{S.FIELD_ZH.get(k, k)} {v}" for k, v in result.imputed_values.items())
        )
    elif result.imputed:
        lines.append("imputed: " + ", ".join(result.imputed))
    lines.extend(f"提示: {w}" for w in result.warnings)
    if result.no_match:
        lines.append(f"无可行园区: {result.no_match}")
    header = f"{'#':>2}  {'park':<28} {'county':<10} {'score':>7}  " + " ".join(
        f"{c[:5]:>5}" for c in S.CRITERIA
    )
    lines.append(header)
    unknown = False
    for rec in result.recommendations:
        crit = " ".join(_criterion_cell(rec.criteria.get(c)) for c in S.CRITERIA)
        unknown = unknown or any(rec.criteria.get(c) is None for c in S.CRITERIA)
        lines.append(
            f"{rec.rank:>2}  {rec.park_name[:28]:<28} {rec.county[:10]:<10} {rec.score:>7.3f}  {crit}"
        )
        lines.extend(f"      - {reason}" for reason in rec.reasons)
    if unknown:
        lines.append(f"  -- = {S.UNKNOWN_ZH}：园区的这项数据没有来源，不打分")
    lines.extend(f"excluded {ex.park_name}: {ex.rule} ({ex.detail})" for ex in result.excluded)
    return "\n".join(lines)


def _criterion_cell(value: float | None) -> str:
    """A criterion the park's sources do not state is shown as unknown, never as a number."""
    return f"{'--':>5}" if value is None else f"{value:>5.2f}"


def cli_recommend(firm_path: Path, model_dir: Path, top: int, fmt: str, explain_excluded: bool) -> int:
    if not 1 <= top <= 50:
        raise ValueError(f"--top must be between 1 and 50, got {top}")
    profile = read_profile(firm_path)
    matcher = Matcher.load(model_dir)
    result = matcher.recommend(profile, top=top, explain_excluded=explain_excluded)
    if fmt == "json":
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(result) + "\n")
    return 0


def cli_brief(
    kind: str,
    target: str,
    out: Path,
    model_dir: Path,
    leads: Path | None = None,
    overwrite: bool = False,
    firms: Path | None = None,
) -> int:
    """``parkmatch brief firm FIRM.json`` / ``parkmatch brief park PARK_ID``: a PDF brief.  A park
    brief lists leads from ``--firms FILE`` (scored here by the leads path) or ``--leads FILE``."""
    from matcher.brief import firm_brief, leads_for_brief, park_brief, read_leads
    from matcher.brief_pdf import firm_brief_pdf, park_brief_pdf

    if out.exists() and not overwrite:
        raise ValueError(f"{out} 已存在；加 --overwrite 覆盖")
    if kind == "firm":
        if leads is not None or firms is not None:
            raise ValueError("--leads 和 --firms 只用于园区简报（brief park）")
        profile = read_profile(Path(target))
        data = firm_brief_pdf(firm_brief(Matcher.load(model_dir), profile))
    else:
        if leads is not None and firms is not None:
            raise ValueError("--leads 与 --firms 只能选一个")
        rows, what_if = read_leads(leads) if leads is not None else ([], [])
        matcher = Matcher.load(model_dir)
        if firms is not None:
            try:
                park_position(matcher, target)
            except KeyError:
                raise ValueError(f"园区编号 {target!r} 不在目录中（见 parkmatch parks）") from None
            batch, _errors = read_firm_file(matcher, firms)
            rows, what_if = leads_for_brief(matcher, batch, target)
        try:
            brief = park_brief(matcher.parks, target, matcher.model_version, rows, what_if)
        except KeyError:
            raise ValueError(f"园区编号 {target!r} 不在目录中（见 parkmatch parks）") from None
        data = park_brief_pdf(brief)
    out.write_bytes(data)
    print(f"wrote {out}", file=sys.stderr)
    return 0


# --- the park's side ------------------------------------------------------------------------


def read_firm_file(matcher: Matcher, path: Path) -> tuple[FirmBatch, list[dict[str, Any]]]:
    """A firm list (CSV, XLSX, Parquet) through the batch readers and :meth:`Matcher.prepare`:
    the valid firms, and one error per rejected row naming the row and the field."""
    cols, rows, rejects, _info = read_firm_table(path)
    batch, errors = matcher.prepare(cols, rows)
    out = [{"row": e.row, "field": e.field, "message": e.reason} for e in [*rejects, *errors]]
    return batch, sorted(out, key=lambda e: int(e["row"]))


def _firm_batch(matcher: Matcher, profile: S.FirmProfile) -> FirmBatch:
    batch, errors = matcher.prepare(columns_from_records([profile.model_dump()]))
    if errors:
        raise ValueError(f"field '{errors[0].field}': {errors[0].reason}")
    return batch


def cli_why(firm_path: Path, model_dir: Path, park_id: str, compare_ids: list[str] | None = None) -> int:
    """``parkmatch recommend FIRM --why PARK_ID`` (and ``--compare A,B,C``): JSON to stdout."""
    profile = read_profile(firm_path)
    matcher = Matcher.load(model_dir)
    batch = _firm_batch(matcher, profile)
    try:
        doc = compare(matcher, batch, compare_ids) if compare_ids else why(matcher, batch, park_id)
    except KeyError as exc:
        raise ValueError(
            f"no park with id {exc.args[0]!r} in the catalogue (see `parkmatch parks`)"
        ) from None
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return 0


def cli_leads(
    park_id: str,
    model_dir: Path,
    top: int,
    out: Path | None,
    firms_path: Path | None = None,
    index_dir: Path | None = None,
    headers: str = "en",
) -> int:
    """``parkmatch leads --park ID (FIRMS_FILE | --index DIR) [-o OUT]``."""
    if (firms_path is None) == (index_dir is None):
        raise ValueError("give either a firm list (FIRMS_FILE) or --index DIR")
    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    matcher = Matcher.load(model_dir)
    try:
        park_position(matcher, park_id)
    except KeyError:
        raise ValueError(f"no park with id {park_id!r} in the catalogue (see `parkmatch parks`)") from None
    if index_dir is not None:
        index = FirmIndex.load(index_dir)
        found = index.leads(matcher, park_id, top)
        errors: list[dict[str, Any]] = []
    else:
        assert firms_path is not None
        batch, errors = read_firm_file(matcher, firms_path)
        found = leads_for_batch(matcher, batch, park_id, top)
    doc = leads_result(matcher, park_id, found, errors)
    if out is None:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return 0
    about = {
        "园区": f"{doc['park_name']}（{park_id}）",
        "模型版本": matcher.model_version,
        "企业来源": str(index_dir or firms_path),
        "线索数": len(found),
        "已拒绝行数": len(errors),
        "如何阅读得分": "线索得分 = 疏解压力权重 ×（本园区相对企业首选的选择概率比），见 docs/leads.md",
    }
    rejects = pd.DataFrame(errors, columns=["row", "field", "message"]).rename(columns={"message": S.ERROR})
    write_leads(out, leads_frame(found), rejects, headers=headers, about=about)
    print(f"wrote {len(found)} leads for {park_id} to {out}", file=sys.stderr)
    return 0


def cli_index_firms(firms_path: Path, out: Path, model_dir: Path, index_type: str) -> int:
    """``parkmatch index-firms FIRMS_FILE --out DIR``: the firm index for ``leads --index``."""
    matcher = Matcher.load(model_dir)
    batch, errors = read_firm_file(matcher, firms_path)
    index = FirmIndex(index_type=index_type).fit(matcher, batch)
    index.save(out)
    print(f"indexed {len(index):,} firms into {out} ({len(errors):,} rows rejected)", file=sys.stderr)
    return 0

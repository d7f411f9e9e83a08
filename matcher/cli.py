"""``parkmatch recommend``: one firm from a JSON file, ranked parks to standard output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import ValidationError

from features import schemas as S
from matcher.core import Matcher


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
    for rec in result.recommendations:
        crit = " ".join(f"{rec.criteria[c]:>5.2f}" for c in S.CRITERIA)
        lines.append(
            f"{rec.rank:>2}  {rec.park_name[:28]:<28} {rec.county[:10]:<10} {rec.score:>7.3f}  {crit}"
        )
        lines.extend(f"      - {reason}" for reason in rec.reasons)
    lines.extend(f"excluded {ex.park_name}: {ex.rule} ({ex.detail})" for ex in result.excluded)
    return "\n".join(lines)


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
) -> int:
    """``parkmatch brief firm FIRM.json`` / ``parkmatch brief park PARK_ID``: a PDF brief."""
    from matcher.brief import firm_brief, park_brief, read_leads
    from matcher.brief_pdf import firm_brief_pdf, park_brief_pdf

    if out.exists() and not overwrite:
        raise ValueError(f"{out} 已存在；加 --overwrite 覆盖")
    if kind == "firm":
        if leads is not None:
            raise ValueError("--leads 只用于园区简报（brief park）")
        profile = read_profile(Path(target))
        data = firm_brief_pdf(firm_brief(Matcher.load(model_dir), profile))
    else:
        rows, what_if = read_leads(leads) if leads is not None else ([], [])
        matcher = Matcher.load(model_dir)
        try:
            brief = park_brief(matcher.parks, target, matcher.model_version, rows, what_if)
        except KeyError:
            raise ValueError(f"园区编号 {target!r} 不在目录中（见 parkmatch parks）") from None
        data = park_brief_pdf(brief)
    out.write_bytes(data)
    print(f"wrote {out}", file=sys.stderr)
    return 0

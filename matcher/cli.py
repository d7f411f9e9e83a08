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

"""Test industry_phrases.csv against labelled_sample.csv (division level, 2-digit).

A sample phrase passes when the set of GB/T divisions (first two digits) produced by the
build script's lookup equals the expected set. Prints accuracy; exits 1 below 90 %.
Run from data/catalogue:  python3 tools/test_phrases.py
"""
import sys
from pathlib import Path
import pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from build_catalogue import load_phrases, phrase_codes  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
table = load_phrases()
s = pd.read_csv(HERE / "labelled_sample.csv", dtype=str, keep_default_na=False)
ok = 0
for r in s.itertuples():
    got = {c[:2] for c in phrase_codes(r.phrase, table)}
    exp = set(r.expected_codes.split(";"))
    hit = got == exp
    ok += hit
    if not hit:
        print(f"MISMATCH {r.phrase}: expected {sorted(exp)} got {sorted(got)}")
acc = ok / len(s)
print(f"{ok}/{len(s)} = {acc:.1%}")
sys.exit(0 if acc >= 0.9 else 1)

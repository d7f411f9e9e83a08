#!/usr/bin/env python3
"""Fill blank destination_park_id in /work/main/data/relocations.csv from the hand-checked table
inputs/relocation_destinations.csv (destination_park text -> park_id, with a note).

Deterministic and reviewable: a row is changed only if its destination_park_id is blank and its
destination_park text equals a table entry with a non-blank park_id (exact string match; never by
firm name). Only that one column is written; every other byte of the file is kept. Each park_id must
exist in parks.csv. Run after build_catalogue.py:  python3 tools/remap_relocations.py [--check]
"""
import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REL = HERE.parent / "relocations.csv"  # data/relocations.csv


def main(check_only: bool = False) -> None:
    table = {}
    with open(HERE / "inputs" / "relocation_destinations.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            assert r["destination_park"] not in table, ("duplicate destination_park", r["destination_park"])
            table[r["destination_park"]] = r["park_id"].strip()
    with open(HERE.parent / "parks.csv", encoding="utf-8", newline="") as f:
        ids = {r["park_id"] for r in csv.DictReader(f)}
    bad = sorted({p for p in table.values() if p and p not in ids})
    assert not bad, ("park_id not in parks.csv", bad)

    raw = REL.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    head = rows[0]
    i_txt, i_id = head.index("destination_park"), head.index("destination_park_id")
    changed, unlisted = [], set()
    for r in rows[1:]:
        if r[i_id].strip():
            continue
        pid = table.get(r[i_txt])
        if pid is None:
            unlisted.add(r[i_txt])
        elif pid:
            r[i_id] = pid
            changed.append((r[0], r[i_txt], pid))
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if "\r\n" in raw else "\n").writerows(rows)
    for c in changed:
        print("set", *c, sep="\t")
    blank = sum(1 for r in rows[1:] if not r[i_id].strip())
    print(f"{len(changed)} rows set; {blank} rows still blank; destination texts not in the table: {len(unlisted)}")
    for u in sorted(unlisted):
        print("  unlisted:", u)
    if not check_only and changed:
        REL.write_text(out.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    main("--check" in sys.argv)

"""The work directory ``OUT.parts/`` that makes a run resumable: per-chunk Parquet parts and a manifest.

Every part and the manifest are written atomically (temporary file, then ``os.replace``), so an
interrupted run leaves only complete parts, each recorded in the manifest or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from features import schemas as S

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2  # 2: a firms part (one row per input row) next to results and rejects

_INTEGER = frozenset({S.ROW, S.RANK})
_FLOAT = frozenset({S.SCORE, *S.CRITERIA})


def _arrow_type(column: str) -> pa.DataType:
    return pa.int64() if column in _INTEGER else pa.float64() if column in _FLOAT else pa.string()


# Arrow types for the output contract's columns (features.schemas.RESULT_COLUMNS, REJECT_COLUMNS).
RESULT_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in S.RESULT_COLUMNS])
REJECT_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in S.REJECT_COLUMNS])
FIRMS_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in S.FIRM_SUMMARY_COLUMNS])
PART_KINDS = ("results", "rejects", "firms")


def fingerprint(path: Path) -> dict[str, Any]:
    """Identity of the input for ``resume``: size, mtime and SHA-256 of the first MiB."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256_first_mib": h.hexdigest(),
    }


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _write_parquet_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class WorkDir:
    """``OUT.parts/``: one results and one rejects Parquet part per chunk, and the manifest."""

    def __init__(self, out: Path, settings: dict[str, Any], resume: bool, messages: list[str]) -> None:
        self.path = out.with_name(out.name + ".parts")
        self.settings = settings
        self.done: dict[int, dict[str, int]] = {}
        manifest = self.path / MANIFEST
        if self.path.exists() and not manifest.exists() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} exists and is not a parkmatch work directory; move it away")
        if resume and manifest.exists():
            old = json.loads(manifest.read_text(encoding="utf-8"))
            if old.get("version") == MANIFEST_VERSION and old.get("settings") == settings:
                self.done = {int(k): v for k, v in old.get("done", {}).items()}
                self.done = {
                    k: v
                    for k, v in self.done.items()
                    if all(self._part(k, kind).exists() for kind in PART_KINDS)
                }
            else:
                messages.append(
                    "resume: the input or settings changed since the interrupted run; "
                    f"started over ({self.path})"
                )
                shutil.rmtree(self.path)
        elif resume:
            messages.append(f"resume: no interrupted run found at {self.path}; started from the beginning")
        if not resume and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._save()

    def _part(self, index: int, kind: str) -> Path:
        return self.path / f"{kind}-{index:06d}.parquet"

    def _save(self) -> None:
        _write_json_atomic(
            self.path / MANIFEST,
            {
                "version": MANIFEST_VERSION,
                "settings": self.settings,
                "done": {str(k): v for k, v in sorted(self.done.items())},
            },
        )

    def record(self, index: int, n_read: int, results: pa.Table, rejects: pa.Table, firms: pa.Table) -> None:
        _write_parquet_atomic(results, self._part(index, "results"))
        _write_parquet_atomic(rejects, self._part(index, "rejects"))
        _write_parquet_atomic(firms, self._part(index, "firms"))
        states = firms.column(S.STATE).to_pylist()
        self.done[index] = {
            "read": n_read,
            "results": results.num_rows,
            "rejects": rejects.num_rows,
            "firms": firms.num_rows,
            **{state: states.count(state) for state in S.STATES},
        }
        self._save()

    def ids(self) -> list[int]:
        return sorted(self.done)

    def results(self) -> Iterator[pa.Table]:
        for i in self.ids():
            yield pq.read_table(self._part(i, "results"), schema=RESULT_SCHEMA)

    def result_columns(self, columns: list[str]) -> Iterator[pa.Table]:
        """Only ``columns`` of every results part, in chunk order (allocation needs three of them)."""
        for i in self.ids():
            yield pq.read_table(self._part(i, "results"), columns=columns)

    def firms(self) -> Iterator[pa.Table]:
        """The one-row-per-input-row parts, in chunk order (so in row order)."""
        for i in self.ids():
            yield pq.read_table(self._part(i, "firms"), schema=FIRMS_SCHEMA)

    def rejects(self) -> pa.Table:
        tables = [pq.read_table(self._part(i, "rejects"), schema=REJECT_SCHEMA) for i in self.ids()]
        return pa.concat_tables(tables) if tables else REJECT_SCHEMA.empty_table()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

"""Reading firm tables (CSV, XLSX, Parquet) in chunks, with Chinese header aliases.

The batch matcher streams a list of firms through :func:`open_firm_table`; nothing here knows
about the model, FastAPI or settings.

Behaviour, as an officer would meet it:

* **Formats** by extension: ``.csv`` / ``.txt`` (comma separated), ``.xlsx`` (first sheet,
  read with openpyxl in read-only mode), ``.parquet``.
* **CSV encoding**: UTF-8 (with or without BOM) is tried strictly on the first MiB; if that
  fails the file is read as GB18030, a superset of GBK/GB2312 (what Excel on a Chinese Windows
  saves as "CSV").  The choice is reported (:attr:`TableInfo.encoding`).  A UTF-8 file whose
  first MiB is valid but which holds an invalid byte further on stops with a clear error.
* **Headers**: canonical names (``name``, ``industry_code`` …) or the Chinese aliases of
  :data:`features.schemas.FIRM_HEADER_ALIASES`, after normalising full-width brackets and
  removing spaces (``用地需求（亩）`` = ``用地需求(亩)`` = ``用地需求 (亩)``).  Unknown columns are
  ignored and listed once in :attr:`TableInfo.ignored`.  A table without a ``name`` column,
  or with neither ``industry_code`` nor ``description``, is refused with
  :class:`FirmTableError` naming the file and the headers found.
* **Registry exports**: up to :data:`HEADER_SCAN_ROWS` title or blank rows above the header are
  skipped (the first row that maps to usable columns is the header, :attr:`TableInfo.header_line`);
  every XLSX sheet with a usable header is read, in order, with data rows numbered on across
  sheets (:attr:`TableInfo.sheets`; sheets without one are listed in ``ignored``); a numeric cell
  in a code column with a zero-padded format ("0000") is read as the text shown (0111); a
  统一社会信用代码 seen before in the file is flagged on the later row (``input_notes``).
* **Empty input** (a 0-byte file, a header with no data rows, an empty sheet): not an error;
  the reader yields no chunk, and the batch matcher writes a valid empty output.  A header-only
  file must still have usable columns.
* **Row numbers** are 1-based data rows: data row N is spreadsheet line N+1 in CSV and XLSX
  (line 1 is the header); for CSV that holds as long as no quoted cell spans several lines, and
  the reject reason of a malformed record also names its physical line.  Blank records are
  skipped but counted, so the numbering still matches the spreadsheet.
* **Malformed CSV records** (more or fewer fields than the header) are rejected with field
  :data:`MALFORMED_FIELD` and their row number; they never stop the run.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from features import schemas as S
from features.validation import RowError

SAMPLE_BYTES = 1 << 20
MALFORMED_FIELD = "_record"
FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}

_FULLWIDTH = str.maketrans({"（": "(", "）": ")", "\u3000": "", " ": "", "\t": "", "\ufeff": ""})


class FirmTableError(ValueError):
    """The file cannot be read as a firm table at all (not one bad row: the whole file)."""


def normalise_header(text: Any) -> str:
    """Header cell → comparable key: full-width brackets folded, spaces removed, ASCII lower-cased."""
    return str(text if text is not None else "").translate(_FULLWIDTH).strip().lower()


_HEADER_MAP: dict[str, str] = {
    **{normalise_header(k): v for k, v in S.FIRM_HEADER_ALIASES.items()},
    **{normalise_header(c): c for c in S.FIRM_COLUMNS},
}


def map_headers(headers: list[str]) -> tuple[dict[int, str], list[str]]:
    """Column position → canonical name, and the headers that are ignored (unknown or a
    second header for a field already mapped)."""
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for i, h in enumerate(headers):
        canon = _HEADER_MAP.get(normalise_header(h))
        if canon is None or canon in taken:
            if str(h if h is not None else "").strip():
                ignored.append(str(h) if canon is None else f"{h} (duplicate of {canon})")
            continue
        mapping[i] = canon
        taken.add(canon)
    return mapping, ignored


HEADER_SCAN_ROWS = 10


def _usable(mapping: dict[int, str]) -> bool:
    have = set(mapping.values())
    return S.NAME in have and bool(
        {S.INDUSTRY_CODE, S.DESCRIPTION, S.INDUSTRY_NAME, S.INDUSTRY_CODE_2011} & have
    )


def find_header(rows: list[list[Any]]) -> int:
    """Index of the header among the first rows: registry exports put a title ("企查查导出数据，
    共 120 条") and a blank line above it.  The first row that maps to usable columns wins; with
    none, row 0 (so the usual error names the headers found)."""
    for k, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        if _usable(map_headers(["" if v is None else str(v) for v in row])[0]):
            return k
    return 0


def check_usable(path: Path, headers: list[str], mapping: dict[int, str]) -> None:
    have = set(mapping.values())
    if not _usable(mapping):
        missing = []
        if S.NAME not in have:
            missing.append("a name column (name / 企业名称)")
        if not ({S.INDUSTRY_CODE, S.DESCRIPTION, S.INDUSTRY_NAME, S.INDUSTRY_CODE_2011} & have):
            missing.append("industry_code (行业代码), 所属行业 or description (主营业务/经营范围)")
        found = ", ".join(repr(str(h)) for h in headers) or "none"
        raise FirmTableError(
            f"{path}: no usable firm columns: need {' and '.join(missing)}; headers found: {found}"
        )


@dataclass
class FirmChunk:
    """One chunk of raw firm columns (object arrays, canonical names), the 1-based data-row
    number of each, and the records rejected while parsing (malformed CSV lines)."""

    index: int
    cols: dict[str, np.ndarray]
    rows: np.ndarray
    rejects: list[RowError] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        """Records read in this chunk: parsed rows plus malformed ones."""
        return int(self.rows.shape[0]) + len(self.rejects)


@dataclass
class TableInfo:
    path: Path
    format: str
    encoding: str | None
    headers: list[str]
    columns: list[str]
    ignored: list[str]
    total_rows: int | None  # known up front for Parquet and (approximately) XLSX
    empty: bool = False
    header_line: int = 1  # 1-based line of the header (title rows above it are skipped)
    sheets: list[str] = field(default_factory=list)  # XLSX sheets read, in order


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the first MiB decodes strictly as UTF-8 (BOM optional), else ``gb18030``."""
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8-sig")("strict").decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


# Columns whose numeric cells are codes: an XLSX "0000" number format is how the zero survives.
_CODE_COLUMNS = frozenset(
    {S.INDUSTRY_CODE, S.INDUSTRY_CODE_2011, S.INDUSTRY_NAME, S.CREDIT_CODE, S.PHONE, S.FIRM_ID}
)
_ZERO_FORMAT = re.compile(r"^0+$")


def _xlsx_value(cell: Any, is_code: bool) -> Any:
    """A cell's value; a code column's number with a zero-padded format ("0000") comes back as
    the text the officer sees (0111), never as the number 111."""
    value = getattr(cell, "value", None)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if is_code and isinstance(value, int | float) and not isinstance(value, bool):
        fmt = str(getattr(cell, "number_format", "") or "")
        if _ZERO_FORMAT.match(fmt) and float(value).is_integer():
            return str(int(value)).zfill(len(fmt))
    return value


def _columns(raw: list[list[Any]], mapping: dict[int, str], names: list[str]) -> dict[str, np.ndarray]:
    n = len(raw)
    out: dict[str, np.ndarray] = {name: np.full(n, None, dtype=object) for name in names}
    for pos, name in mapping.items():
        arr = np.empty(n, dtype=object)
        arr[:] = [r[pos] if pos < len(r) else None for r in raw]
        out[name] = arr
    return out


class FirmTable:
    """A firm table opened for chunked reading; see the module docstring for the rules."""

    def __init__(self, path: str | Path, chunk_rows: int = 20_000):
        self.path = Path(path)
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self.chunk_rows = chunk_rows
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such file")
        fmt = FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise FirmTableError(
                f"{self.path}: unsupported file type {self.path.suffix!r}; use .csv, .xlsx or .parquet"
            )
        self._fraction: float | None = None
        self._seen_credit: dict[str, int] = {}
        self._sheet_plan: list[tuple[str, int, dict[int, str]]] = []
        self.info = getattr(self, f"_open_{fmt}")()
        if not self.info.empty:
            mapping, ignored = map_headers(self.info.headers)
            check_usable(self.path, self.info.headers, mapping)
            self._mapping = mapping
            columns = [mapping[i] for i in sorted(mapping)]
            for _name, _h, m in self._sheet_plan:
                columns.extend(c for c in m.values() if c not in columns)
            self.info.columns = columns
            self.info.ignored = [*ignored, *self.info.ignored]
        else:
            self._mapping = {}

    # --- opening: headers, encoding, size --------------------------------------------------

    def _open_csv(self) -> TableInfo:
        enc = detect_encoding(self.path)
        headers: list[str] = []
        self._csv_header = 0
        with open(self.path, encoding=enc, newline="", errors="strict") as f:
            try:
                reader = csv.reader(f)
                first: list[list[Any]] = []
                for rec in reader:
                    first.append(rec)
                    if len(first) >= HEADER_SCAN_ROWS:
                        break
                self._csv_header = find_header(first)
                headers = first[self._csv_header] if first else []
            except UnicodeDecodeError as exc:
                raise FirmTableError(f"{self.path}: cannot decode the header as {enc}: {exc}") from exc
            except csv.Error as exc:
                raise FirmTableError(f"{self.path}: the header line is not valid CSV: {exc}") from exc
        empty = not any(h.strip() for h in headers)
        info = TableInfo(
            self.path, "csv", "gb18030" if enc == "gb18030" else "utf-8", headers, [], [], None, empty
        )
        info.header_line = self._csv_header + 1
        return info

    def _open_xlsx(self) -> TableInfo:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:
            raise FirmTableError(
                f"{self.path}: not a readable .xlsx workbook: {type(exc).__name__}: {exc}"
            ) from exc
        headers: list[str] = []
        first_headers: list[str] | None = None
        skipped: list[str] = []
        total = 0
        header_line = 1
        try:
            for ws in wb.worksheets:
                top = [list(r) for r in ws.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True)]
                h = find_header(top)
                row_headers = ["" if v is None else str(v) for v in (top[h] if top else [])]
                if first_headers is None:
                    first_headers = row_headers
                mapping = map_headers(row_headers)[0]
                if not _usable(mapping):
                    if any(x.strip() for x in row_headers):
                        skipped.append(f"工作表“{ws.title}”没有可用的表头，已跳过")
                    continue
                if not self._sheet_plan:
                    headers, header_line = row_headers, h + 1
                self._sheet_plan.append((ws.title, h, mapping))
                total += max((ws.max_row or 0) - h - 1, 0)
        finally:
            wb.close()
        if not self._sheet_plan:
            headers = first_headers or []
        empty = not any(h.strip() for h in headers)
        info = TableInfo(self.path, "xlsx", None, headers, [], skipped, total or None, empty)
        info.header_line = header_line
        info.sheets = [name for name, _h, _m in self._sheet_plan]
        return info

    def _open_parquet(self) -> TableInfo:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except Exception as exc:
            raise FirmTableError(
                f"{self.path}: not a readable Parquet file: {type(exc).__name__}: {exc}"
            ) from exc
        headers = list(pf.schema_arrow.names)
        n = pf.metadata.num_rows
        return TableInfo(self.path, "parquet", None, headers, [], [], n, empty=not headers)

    # --- reading ---------------------------------------------------------------------------

    def fraction(self) -> float | None:
        """Share of the input consumed so far (for progress), when it can be known."""
        return self._fraction

    def chunks(self) -> Iterator[FirmChunk]:
        if self.info.empty:
            return iter(())
        return getattr(self, f"_chunks_{self.info.format}")()  # type: ignore[no-any-return]

    def _emit(
        self,
        index: int,
        raw: list[list[Any]],
        rows: list[int],
        rejects: list[RowError],
        mapping: dict[int, str] | None = None,
    ) -> FirmChunk:
        cols = _columns(raw, self._mapping if mapping is None else mapping, self.info.columns)
        self._flag_duplicates(cols, rows)
        return FirmChunk(index, cols, np.asarray(rows, dtype=np.int64), rejects)

    def _flag_duplicates(self, cols: dict[str, np.ndarray], rows: list[int]) -> None:
        """The same 统一社会信用代码 twice in one list (also across chunks and sheets) is flagged
        on the later rows; both are still matched, the officer decides which to keep."""
        codes = cols.get(S.CREDIT_CODE)
        if codes is None:
            return
        notes = np.full(len(rows), None, dtype=object)
        for i, (code, row) in enumerate(zip(codes, rows, strict=True)):
            key = str(code).strip().upper() if code is not None else ""
            if not key or key in ("-", "--"):
                continue
            first = self._seen_credit.setdefault(key, row)
            if first != row:
                notes[i] = [f"统一社会信用代码 {key} 与第 {first} 行重复"]
        cols[S.INPUT_NOTES] = notes

    def _chunks_csv(self) -> Iterator[FirmChunk]:
        enc = "gb18030" if self.info.encoding == "gb18030" else "utf-8-sig"
        size = max(self.path.stat().st_size, 1)
        width = len(self.info.headers)
        f: IO[str]
        with open(self.path, "rb") as fb:
            f = io.TextIOWrapper(fb, encoding=enc, newline="", errors="strict")
            reader = csv.reader(f)
            try:
                for _ in range(self._csv_header + 1):
                    next(reader)
            except StopIteration:
                return
            raw: list[list[Any]] = []
            rows: list[int] = []
            rejects: list[RowError] = []
            index = 0
            n = 0  # data rows seen so far (1-based once incremented)
            while True:
                rec: list[str] | None
                try:
                    rec = next(reader)
                except StopIteration:
                    break
                except UnicodeDecodeError as exc:
                    raise FirmTableError(
                        f"{self.path}: invalid {self.info.encoding} bytes after data row {n} "
                        f"(encoding chosen from the first MiB): {exc}"
                    ) from exc
                except csv.Error as exc:
                    n += 1
                    rejects.append(
                        RowError(
                            n, MALFORMED_FIELD, f"malformed CSV record near line {reader.line_num}: {exc}"
                        )
                    )
                    rec = None
                else:
                    n += 1
                    assert rec is not None
                    if not any(c.strip() for c in rec):
                        rec = None  # blank record: skipped, still counted
                    elif len(rec) != width:
                        rejects.append(
                            RowError(
                                n,
                                MALFORMED_FIELD,
                                f"malformed CSV record: {len(rec)} fields where the header has {width} "
                                f"(data row {n}, file line {reader.line_num})",
                            )
                        )
                        rec = None
                if rec is not None:
                    raw.append([c if c.strip() else None for c in rec])
                    rows.append(n)
                if n and n % self.chunk_rows == 0 and (raw or rejects):
                    self._fraction = min(fb.tell() / size, 1.0)
                    yield self._emit(index, raw, rows, rejects)
                    raw, rows, rejects = [], [], []
                    index += 1
                elif n and n % self.chunk_rows == 0:
                    index += 1  # a chunk of blank lines only: keep ids aligned with row ranges
            if raw or rejects:
                self._fraction = 1.0
                yield self._emit(index, raw, rows, rejects)

    def _chunks_xlsx(self) -> Iterator[FirmChunk]:
        from openpyxl import load_workbook

        wb = load_workbook(self.path, read_only=True, data_only=True)
        try:
            total = self.info.total_rows
            index = 0
            n = 0  # data rows so far, counted across sheets
            for title, h, mapping in self._sheet_plan:
                ws = wb[title]
                code_pos = {pos for pos, name in mapping.items() if name in _CODE_COLUMNS}
                raw: list[list[Any]] = []
                rows: list[int] = []
                for cells_in in ws.iter_rows(min_row=h + 2):
                    n += 1
                    cells = [_xlsx_value(c, j in code_pos) for j, c in enumerate(cells_in)]
                    if any(c is not None for c in cells):
                        raw.append(cells)
                        rows.append(n)
                    if n % self.chunk_rows == 0:
                        if raw:
                            self._fraction = min(n / total, 1.0) if total else None
                            yield self._emit(index, raw, rows, [], mapping)
                            raw, rows = [], []
                        index += 1
                if raw:
                    self._fraction = min(n / total, 1.0) if total else 1.0
                    yield self._emit(index, raw, rows, [], mapping)
                    index += 1
        finally:
            wb.close()

    def _chunks_parquet(self) -> Iterator[FirmChunk]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        names = [self.info.headers[i] for i in sorted(self._mapping)]
        canon = [self._mapping[i] for i in sorted(self._mapping)]
        total = self.info.total_rows or 0
        start = 0
        for index, batch in enumerate(pf.iter_batches(batch_size=self.chunk_rows, columns=names)):
            cols: dict[str, np.ndarray] = {}
            for name, key in zip(names, canon, strict=True):
                col = batch.column(batch.schema.get_field_index(name))
                if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
                    arr = np.empty(len(col), dtype=object)
                    arr[:] = col.to_pylist()
                else:
                    arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
                cols[key] = arr
            n = batch.num_rows
            rows = np.arange(start + 1, start + n + 1, dtype=np.int64)
            start += n
            self._fraction = min(start / total, 1.0) if total else None
            self._flag_duplicates(cols, [int(r) for r in rows])
            yield FirmChunk(index, cols, rows, [])


def open_firm_table(path: str | Path, chunk_rows: int = 20_000) -> FirmTable:
    """Open ``path`` for chunked reading; raises :class:`FirmTableError` for an unusable file."""
    return FirmTable(path, chunk_rows)


def read_firm_table(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray, list[RowError], TableInfo]:
    """The whole table at once (small files, tests): columns, row numbers, parse rejects, info."""
    table = open_firm_table(path, chunk_rows=sys.maxsize)
    cols: dict[str, list[np.ndarray]] = {c: [] for c in table.info.columns}
    rows: list[np.ndarray] = []
    rejects: list[RowError] = []
    for ch in table.chunks():
        for c in cols:
            cols[c].append(ch.cols[c])
        rows.append(ch.rows)
        rejects.extend(ch.rejects)
    out = {c: (np.concatenate(v) if v else np.empty(0, dtype=object)) for c, v in cols.items()}
    return out, (np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)), rejects, table.info

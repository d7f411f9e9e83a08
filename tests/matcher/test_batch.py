"""Batch matching of firm files (matcher.batch): formats, rejects, atomicity, resume, Dask, allocation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from features import schemas as S
from matcher.allocation import ALLOCATED, ALLOCATED_RANK
from matcher.batch import engines, match_file, writers
from matcher.batch.readers import MALFORMED_FIELD, FirmTableError
from matcher.batch.workdir import MANIFEST
from matcher.core import Matcher
from matcher.metrics import gini
from training.synth import simulate

CN_HEADERS = {
    S.NAME: "企业名称",
    S.INDUSTRY_CODE: "行业代码",
    S.DESCRIPTION: "主营业务",
    S.ORIGIN_DISTRICT: "所在区",
    S.EMPLOYEES: "员工人数",
    S.LAND_NEED_MU: "用地需求(亩)",
}


@pytest.fixture(scope="module")
def firms() -> pd.DataFrame:
    df = simulate(120, 11).firms[list(S.FIRM_COLUMNS)].copy()
    for c in S.FIRM_LIST_COLUMNS:
        df[c] = df[c].map(lambda v: ";".join(v))
    return df


def write_input(df: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False, encoding=encoding)
    elif path.suffix == ".xlsx":
        df.to_excel(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def key(df: pd.DataFrame) -> list[tuple[int, int, str]]:
    return list(zip(df[S.ROW].astype(int), df[S.RANK].astype(int), df[S.PARK_ID].astype(str), strict=True))


@pytest.fixture(scope="module")
def reference(
    matcher: Matcher, firms: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    d = tmp_path_factory.mktemp("ref")
    match_file(
        matcher, write_input(firms, d / "in.parquet"), d / "ref.parquet", chunk_rows=50, progress=False
    )
    return pd.read_parquet(d / "ref.parquet")


@pytest.mark.parametrize(
    ("name", "encoding", "chinese"),
    [
        ("a.csv", "utf-8", False),
        ("b.csv", "utf-8-sig", False),
        ("c.csv", "gbk", True),
        ("d.xlsx", None, True),
        ("e.parquet", None, False),
    ],
)
def test_every_format_and_encoding_matches_every_row(
    matcher: Matcher,
    firms: pd.DataFrame,
    reference: pd.DataFrame,
    tmp_path: Path,
    name: str,
    encoding: str | None,
    chinese: bool,
) -> None:
    df = firms[list(CN_HEADERS)].rename(columns=CN_HEADERS) if chinese else firms
    inp = write_input(df, tmp_path / name, encoding or "utf-8")
    summary = match_file(matcher, inp, tmp_path / "out.parquet", chunk_rows=50, progress=False)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.rows_read == summary.matched == len(firms) and summary.rejected == 0
    assert sorted(out[S.ROW].unique()) == list(range(1, len(firms) + 1))
    assert (
        summary.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8", "gbk": "gb18030", None: None}[encoding]
    )
    assert key(out) == sorted(key(out))
    if not chinese:
        assert key(out) == key(reference)
    assert not (tmp_path / "out.parquet.parts").exists()


def test_bad_rows_become_rejects_and_good_rows_match(matcher: Matcher, tmp_path: Path) -> None:
    lines = [
        "企业名称,行业代码,主营业务,所在区,员工人数,用地需求(亩)",
        "北京甲制药有限公司,2710,原料药生产,大兴区,300,50",
        "北京乙公司,9999,,朝阳区,10,",
        "北京丙物流有限公司,5990,仓储物流,通州区,-5,",
        "北京丁公司,3670,汽车零部件,顺义区,100,10,多余,字段",
        "北京戊软件有限公司,,软件开发与信息技术服务,海淀区,80,0",
    ]
    inp = tmp_path / "bad.csv"
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = match_file(matcher, inp, tmp_path / "out.csv", progress=False)
    rejects = pd.read_csv(tmp_path / "out.csv.rejects.csv", encoding="utf-8-sig")
    assert list(zip(rejects[S.ROW], rejects[S.FIELD], strict=True)) == [
        (2, S.INDUSTRY_CODE),
        (3, S.EMPLOYEES),
        (4, MALFORMED_FIELD),
    ]
    assert rejects[S.ERROR].str.len().min() > 5
    assert summary.rejected_by_field == {S.INDUSTRY_CODE: 1, S.EMPLOYEES: 1, MALFORMED_FIELD: 1}
    out = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig")
    assert sorted(out[S.ROW].unique()) == [1, 5]
    assert summary.rows_read == 5 and summary.matched == 2


def test_empty_input_gives_empty_output(matcher: Matcher, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    summary = match_file(matcher, tmp_path / "empty.csv", tmp_path / "out.parquet", progress=False)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 0 and S.PARK_ID in out.columns
    assert summary.rows_read == 0 and "no data rows" in summary.text()
    header_only = tmp_path / "h.csv"
    header_only.write_text("企业名称,行业代码\n", encoding="utf-8")
    match_file(matcher, header_only, tmp_path / "h.xlsx", progress=False)
    assert load_workbook(tmp_path / "h.xlsx").sheetnames == list(writers.SHEETS)


def test_unusable_file_is_refused_and_nothing_written(matcher: Matcher, tmp_path: Path) -> None:
    inp = tmp_path / "x.csv"
    inp.write_text("公司,地址\n甲,北京\n", encoding="utf-8")
    with pytest.raises(FirmTableError, match="headers found"):
        match_file(matcher, inp, tmp_path / "out.csv", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_output_formats_read_back(
    matcher: Matcher, firms: pd.DataFrame, reference: pd.DataFrame, tmp_path: Path
) -> None:
    inp = write_input(firms.head(30), tmp_path / "in.parquet")
    match_file(matcher, inp, tmp_path / "out.csv", progress=False)
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    csv = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig", dtype={S.FIRM_ID: str})
    ref = reference[reference[S.ROW] <= 30].reset_index(drop=True)
    assert key(csv) == key(ref)
    assert csv[S.REASONS].tolist() == ref[S.REASONS].tolist()
    match_file(matcher, inp, tmp_path / "out.xlsx", progress=False)
    wb = load_workbook(tmp_path / "out.xlsx", read_only=True)
    assert wb.sheetnames == list(writers.SHEETS)
    rows = list(wb[writers.SHEET_RESULTS].iter_rows(values_only=True))
    assert rows[0][:3] == ("行号", "企业编号", "企业名称") and len(rows) == len(ref) + 1
    assert next(wb[writers.SHEET_REJECTS].iter_rows(values_only=True))[:3] == ("行号", "企业编号", "企业名称")
    assert len(list(wb[writers.SHEET_SUMMARY].iter_rows(values_only=True))) == 30 + 1
    wb.close()
    assert not (tmp_path / "out.xlsx.rejects.csv").exists()


def test_excel_row_limit_is_a_clear_error(
    matcher: Matcher, firms: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "EXCEL_MAX_ROWS", 50)
    inp = write_input(firms.head(20), tmp_path / "in.csv")
    with pytest.raises(ValueError, match=r"Excel.*parquet"):
        match_file(matcher, inp, tmp_path / "out.xlsx", progress=False)
    assert not (tmp_path / "out.xlsx").exists()


def failing_after(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    real = engines.process_chunk
    calls = {"n": 0}

    def flaky(matcher: Matcher, chunk, top: int):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > k:
            raise RuntimeError("simulated crash")
        return real(matcher, chunk, top)

    monkeypatch.setattr(engines, "process_chunk", flaky)


def test_crash_leaves_no_output_and_resume_completes(
    matcher: Matcher,
    firms: pd.DataFrame,
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inp = write_input(firms, tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    with monkeypatch.context() as mp:
        failing_after(mp, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            match_file(matcher, inp, out, chunk_rows=25, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))
    manifest = json.loads((tmp_path / "out.parquet.parts" / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["done"]) == ["0", "1"]
    summary = match_file(matcher, inp, out, chunk_rows=25, resume=True, progress=False)
    assert summary.chunks_resumed == 2 and summary.chunks == 5 and summary.rows_read == len(firms)
    got = pd.read_parquet(out)
    pd.testing.assert_frame_equal(got, reference)
    assert not (tmp_path / "out.parquet.parts").exists()


def test_stale_parts_are_discarded_without_resume(
    matcher: Matcher,
    firms: pd.DataFrame,
    reference: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inp = write_input(firms, tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    with monkeypatch.context() as mp:
        failing_after(mp, 1)
        with pytest.raises(RuntimeError):
            match_file(matcher, inp, out, chunk_rows=50, progress=False)
    summary = match_file(matcher, inp, out, chunk_rows=50, progress=False)
    assert summary.chunks_resumed == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), reference)


def test_allocate_respects_capacity_and_reports_gini(
    matcher: Matcher, firms: pd.DataFrame, tmp_path: Path
) -> None:
    small = copy.copy(matcher)
    small.parks = matcher.parks.assign(**{S.CAPACITY_PER_YEAR: 2})
    inp = write_input(firms, tmp_path / "in.parquet")
    summary = match_file(small, inp, tmp_path / "out.parquet", allocate=True, progress=False)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert {ALLOCATED_RANK, ALLOCATED} <= set(out.columns)
    firsts = out[out[ALLOCATED_RANK] == 1]
    assert len(firsts) == out[S.ROW].nunique()
    assert firsts[firsts[ALLOCATED]].groupby(S.PARK_ID).size().max() <= 2
    # every firm's allocated ranks are a permutation of its original ranks
    for _, g in out.groupby(S.ROW):
        assert sorted(g[ALLOCATED_RANK]) == sorted(g[S.RANK])
    # a firm that was not allocated keeps its order
    unalloc = out[~out[ALLOCATED]]
    assert (unalloc[ALLOCATED_RANK] == unalloc[S.RANK]).all()
    a = summary.allocation
    assert (
        a is not None and a["gini_after"] < a["gini_before"] and a["coverage_after"] >= a["coverage_before"]
    )
    assert "Gini" in summary.text()


def test_gini() -> None:
    assert gini(np.array([5, 5, 5])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 9])) == pytest.approx(0.75)


@pytest.mark.integration
def test_dask_equals_local(bundle_path: Path, tmp_path: Path) -> None:
    df = simulate(10_000, 5).firms[list(S.FIRM_COLUMNS)]
    inp = tmp_path / "in.parquet"
    df.to_parquet(inp, index=False)
    local = match_file(bundle_path, inp, tmp_path / "local.parquet", chunk_rows=2500, progress=False)
    dask = match_file(
        bundle_path, inp, tmp_path / "dask.parquet", engine="dask", workers=2, chunk_rows=2500, progress=False
    )
    a, b = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    assert local.rows_read == dask.rows_read == 10_000
    assert key(a) == key(b)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from matcher.batch import match_file, writers

def killed(tmp, *args, **kwargs):
    Path(tmp).write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: as a kill -9 or the OOM killer

writers._write_csv_stream = killed
match_file(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)
"""


def test_a_kill_during_the_final_write_leaves_a_temp_file_the_next_run_removes(
    bundle_path: Path, matcher: Matcher, firms: pd.DataFrame, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    inp = write_input(firms.head(10), tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(bundle_path), str(inp), str(out)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    left = list(tmp_path.glob(".out.csv.*.tmp"))
    assert len(left) == 1 and not out.exists()
    match_file(matcher, inp, out, progress=False)
    assert out.exists() and not list(tmp_path.glob(".out.csv.*.tmp"))


def test_a_live_runs_temp_file_is_kept(tmp_path: Path) -> None:
    import os

    out = tmp_path / "out.parquet"
    mine = tmp_path / f".out.parquet.{os.getpid()}.abcd.tmp"
    mine.write_bytes(b"being written")
    other = tmp_path / ".other.parquet.1.abcd.tmp"
    other.write_bytes(b"another output's")
    assert writers.reap_stale_temp(out) == []
    assert mine.exists() and other.exists()


def test_outputs_get_ordinary_permissions(matcher: Matcher, firms: pd.DataFrame, tmp_path: Path) -> None:
    """0666 less the umask, as any file the officer's tools write; not mkstemp's 0600."""
    import os

    inp = write_input(firms.head(10), tmp_path / "in.parquet")
    old = os.umask(0o027)
    try:
        match_file(matcher, inp, tmp_path / "a.csv", progress=False)
    finally:
        os.umask(old)
    match_file(matcher, inp, tmp_path / "b.xlsx", progress=False)
    for name in ("a.csv", "a.csv.rejects.csv", "a.csv.firms.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    assert (tmp_path / "b.xlsx").stat().st_mode & 0o777 == 0o666 & ~old


@pytest.mark.integration
def test_local_worker_pool_equals_one_process(bundle_path: Path, matcher: Matcher, tmp_path: Path) -> None:
    """The local engine given a bundle path spreads chunks over worker processes; the output is
    the very file one process writes."""
    df = simulate(1_500, 9).firms[list(S.FIRM_COLUMNS)]
    inp = tmp_path / "in.parquet"
    df.to_parquet(inp, index=False)
    one = match_file(matcher, inp, tmp_path / "one.parquet", chunk_rows=400, progress=False)
    pool = match_file(bundle_path, inp, tmp_path / "pool.parquet", workers=2, chunk_rows=400, progress=False)
    assert one.rows_read == pool.rows_read == 1_500 and pool.chunks == 4
    a, b = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "pool.parquet")
    pd.testing.assert_frame_equal(a, b)

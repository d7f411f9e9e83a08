"""``/v1/batch-jobs``: a batch file uploaded from the workspace, run through ``match_file``.

The page uploads the file as the request body (the gate's body cap applies), polls the job for
progress and downloads the officer XLSX.  The run is :func:`matcher.batch.match_file`, the
same readers, engines, writers and accounting as ``parkmatch match``; only the progress goes to
the database instead of a terminal, so any worker can answer the polls.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.audit import AuditLog
from api.db import BatchJob, Database, Principal, as_utc, utcnow
from api.deps import AnyKey, DbDep, Inference, ModelDep
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse
from api.web.labels import JOB_STATUS_ZH
from matcher.batch import match_file
from matcher.batch.readers import FirmTableError, open_firm_table
from matcher.core import Matcher

log = logging.getLogger("parkmatch.web")
router = APIRouter(prefix="/v1/batch-jobs", tags=["batch files"], responses=ERROR_RESPONSES)
INPUT_TYPES = (".xlsx", ".csv")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the firm list itself: an .xlsx or .csv file as the raw body",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class BatchJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    filename: str
    status: str = Field(description="queued, running, done or failed")
    status_zh: str
    rows_done: int
    total_rows: int | None = Field(description="rows in the file when known up front (XLSX: approximately)")
    fraction: float | None = Field(description="share of the file read so far, when it can be known")
    summary: dict[str, int] | None = Field(description="rows per final state, once done")
    error: str | None
    created: datetime


def job_out(row: BatchJob) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "status": row.status,
        "status_zh": JOB_STATUS_ZH.get(row.status, row.status),
        "rows_done": row.rows_done,
        "total_rows": row.total_rows,
        "fraction": row.fraction,
        "summary": json.loads(row.summary) if row.summary else None,
        "error": row.error,
        "created": as_utc(row.created),
    }


def _refuse(status: int, message: str, field: str) -> HTTPException:
    return HTTPException(status, detail={"code": "validation_error", "message": message, "field": field})


class BatchRunner:
    """One thread per process runs the uploaded files in turn (limited to one OpenMP thread,
    like the inference pool), so a large upload never takes the cores the API answers on."""

    def __init__(self, root: Path, chunk_rows: int) -> None:
        self.root = Path(root)
        self.chunk_rows = chunk_rows
        self.pool = Inference(1)
        self.audit: AuditLog | None = None  # set by api.main: a finished file is one audit row

    def shutdown(self) -> None:
        self.pool.shutdown()

    async def start(
        self, db: Database, matcher: Matcher, who: Principal, filename: str, body: bytes, top: int
    ) -> dict[str, Any]:
        suffix = Path(filename).suffix.lower()
        if suffix not in INPUT_TYPES:
            raise _refuse(422, f"文件“{filename}”的类型不受支持：请上传 .xlsx 或 .csv 文件", "filename")
        if not body:
            raise _refuse(422, "上传的文件是空的", "file")
        job_id = secrets.token_hex(12)
        folder = self.root / job_id
        inp = folder / f"input{suffix}"
        total = await run_in_threadpool(self._store, folder, inp, body)
        row = BatchJob(
            id=job_id,
            org=who.org,
            created_by=who.key_id,
            filename=Path(filename).name[:200],
            total_rows=total,
        )
        row.created = row.updated = utcnow()
        await run_in_threadpool(db.add_batch_job, row)
        self.pool.executor.submit(self._run, db, matcher, job_id, inp, folder / "result.xlsx", top, who)
        return job_out(row)

    def _store(self, folder: Path, inp: Path, body: bytes) -> int | None:
        """Write the upload and open it as a firm table, so a file that cannot be read at all is
        refused at once with the reader's reason instead of failing later in the queue."""
        folder.mkdir(parents=True, exist_ok=True)
        inp.write_bytes(body)
        try:
            return open_firm_table(inp, self.chunk_rows).info.total_rows
        except (FirmTableError, ValueError, OSError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            reason = str(exc).replace(str(inp), "上传的文件")
            raise _refuse(422, f"无法读取上传的文件：{reason}", "file") from None

    def _run(
        self, db: Database, matcher: Matcher, job_id: str, inp: Path, out: Path, top: int, who: Principal
    ) -> None:
        db.update_batch_job(job_id, status="running")

        def moved(rows: int, fraction: float | None) -> None:
            db.update_batch_job(job_id, rows_done=rows, fraction=fraction)

        try:
            summary = match_file(
                matcher, inp, out, top=top, chunk_rows=self.chunk_rows, progress=False, on_progress=moved
            )
        except Exception as exc:  # the officer sees the reason; the log keeps the trace
            log.exception("batch job %s failed", job_id)
            db.update_batch_job(job_id, status="failed", error=f"匹配失败：{exc}")
            return
        finally:
            inp.unlink(missing_ok=True)
        counts = {
            "rows_read": summary.rows_read,
            "matched": summary.matched - summary.matched_with_warnings,
            "matched_with_warnings": summary.matched_with_warnings,
            "no_feasible_park": summary.no_feasible_park,
            "rejected": summary.rejected,
        }
        db.update_batch_job(
            job_id,
            status="done",
            rows_done=summary.rows_read,
            fraction=1.0,
            summary=json.dumps(counts),
            result_path=str(out),
        )
        if self.audit is not None:
            self.audit.batch_file(who, matcher.model_version, {"job_id": job_id, "top": top, **counts})


async def get_runner(request: Request) -> BatchRunner:
    runner: BatchRunner = request.app.state.batch_runner
    return runner


async def own_job(job_id: str, db: DbDep, who: AnyKey) -> BatchJob:
    """The job if it belongs to the caller's organisation; another organisation's is not found."""
    row = await run_in_threadpool(db.batch_job, job_id)
    if row is None or row.org != who.org:
        raise HTTPException(
            404, detail={"code": "not_found", "message": f"没有编号为 {job_id} 的批量任务", "field": "job_id"}
        )
    return row


RunnerDep = Annotated[BatchRunner, Depends(get_runner)]
OwnJob = Annotated[BatchJob, Depends(own_job)]
FileName = Annotated[
    str,
    Query(
        min_length=5,
        max_length=200,
        pattern=r"^[^/\\\x00-\x1f]+$",
        description="the file's name (.xlsx or .csv)",
    ),
]
Top = Annotated[int, Query(ge=1, le=50, description="parks per firm")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


@router.post(
    "", response_model=BatchJobOut, status_code=202, openapi_extra=UPLOAD_BODY, summary="Upload a firm list"
)
async def start_job(
    request: Request,
    filename: FileName,
    model: ModelDep,
    db: DbDep,
    runner: RunnerDep,
    who: AnyKey,
    top: Top = 10,
) -> Any:
    return await runner.start(db, model.matcher, who, filename, await request.body(), top)


@router.get("/{job_id}", response_model=BatchJobOut, responses=NOT_FOUND, summary="A batch job's progress")
async def get_job(job: OwnJob) -> Any:
    return job_out(job)


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse}},
    summary="The officer XLSX of a finished job",
)
async def job_result(job: OwnJob) -> Any:
    if job.status != "done" or not job.result_path or not Path(job.result_path).exists():
        raise HTTPException(
            409,
            detail={
                "code": "not_ready",
                "message": f"任务尚未完成（{JOB_STATUS_ZH.get(job.status, job.status)}）",
            },
        )
    return FileResponse(job.result_path, media_type=XLSX, filename=f"推荐结果-{_stem(job.filename)}.xlsx")


def _stem(name: str) -> str:
    return re.sub(r"[\r\n\"]", "", Path(name).stem)[:80] or "batch"

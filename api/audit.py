"""The audit log: every recommendation, batch, brief, park-side call, leads call and reload
served, as rows of ``audit_log`` (:class:`api.db.AuditEntry`).

Writing must not slow serving, so a route only appends a small tuple to an in-memory queue
(:meth:`AuditLog.add`: a lock, a counter and a ``deque.append``, no I/O, no JSON, no hashing).
A background thread turns queued calls into rows (firm references, top parks as JSON) and
inserts them in batches: every ``flush_seconds`` or as soon as ``batch_rows`` rows wait, and once
more when the app stops.  The queue is bounded (``max_rows``): while the database is down the
rows wait and are retried, and what does not fit any more is dropped and counted
(:attr:`AuditLog.dropped`, logged as a warning and shown by ``GET /v1/admin/audit``), so an
outage never grows the worker's memory without bound.

Batch and leads calls run in the worker's batch process (:mod:`api.batchwork`), which answers
with encoded JSON bytes; the audited variants here (:func:`recommend_batch_served`,
:func:`park_leads_served`) also return the compact rows the audit needs, built there from the
validated answer, so the worker never parses a 10,000-recommendation body to audit it.

Rows older than the retention period are deleted at most hourly by the writer and by
``parkmatch audit prune``; ``parkmatch audit export`` writes them to Parquet.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, delete, func, insert, select

from api import service
from api.db import AuditEntry, Database, Principal, as_utc
from api.models import BatchResponse, LeadsResponse
from features import schemas as S
from matcher.brief import firm_brief
from matcher.brief_pdf import firm_brief_pdf
from matcher.core import Matcher

log = logging.getLogger("parkmatch.audit")

# What a row records: one firm's answer of a single recommendation, a batch, a firm brief, a
# why-not (with its what-if) or a comparison; one leads call; one workspace batch file (its
# counts, not its rows, which can be 100,000); one reload, or a promotion made outside a request.
KINDS = ("recommend", "batch", "brief", "why", "compare", "leads", "batch_file", "reload", "promote")
# How often the writer deletes rows past the retention period.
PRUNE_EVERY_SECONDS = 3600.0
# Warnings about an unreachable database or dropped rows at most this often.
WARN_EVERY_SECONDS = 60.0
# Rows per insert, each in its own short transaction: SQLite has one writer at a time, and the
# rate limit's per-request upsert must not wait behind a long audit insert.
INSERT_CHUNK = 200
# The writer hands the GIL back to the request threads after this many rows built (about half a
# millisecond of work), instead of holding it for the interpreter's 5 ms switch interval.
YIELD_EVERY_ROWS = 16

Row = dict[str, Any]
# (firm reference, [[park_id, score], ...], detail) of one firm's answer: what a batch process
# hands back beside the encoded body.
Served = tuple[str, list[list[Any]], dict[str, Any]]


# --- firm references ------------------------------------------------------------------------


def firm_ref(firm: S.FirmProfile) -> str:
    """The firm's own id when it has one, else ``sha256:<hex>`` of its canonical profile
    (:func:`api.service.profile_hash`, the hash outcomes are stored with, so an audit row and an
    outcome of the same firm can be joined).  The same firm sent alone, in a batch or in a leads
    list gets the same reference, and the audit names the firm without storing its profile."""
    return firm.firm_id if firm.firm_id else f"sha256:{service.profile_hash(firm)}"


def raw_firm_ref(raw: Any, firm_id: str | None = None) -> str:
    """:func:`firm_ref` of a firm as a list call received it (a JSON object not yet validated)."""
    if firm_id:
        return firm_id
    return firm_ref(S.FirmProfile.model_validate(raw))


def _top(recommendations: Sequence[Any]) -> list[list[Any]]:
    return [[r["park_id"], r["score"]] for r in recommendations]


# --- the batch process's audited variants -----------------------------------------------------


def recommend_batch_served(
    matcher: Matcher, firms: list[dict[str, Any]], top: int, explain_excluded: bool, audited: bool
) -> tuple[bytes, list[Served]]:
    """:func:`api.service.recommend_batch` validated and encoded on the batch thread (left to
    FastAPI, a 1,000-firm answer would be validated and encoded on the event loop, holding every
    single request of that worker), plus one :data:`Served` per firm answered (empty when the
    audit is off), built where the batch ran, from the validated answer."""
    body = BatchResponse.model_validate(service.recommend_batch(matcher, firms, top, explain_excluded))
    served: list[Served] = []
    if audited:
        for r in body.results:
            served.append(
                (
                    raw_firm_ref(firms[r.index], r.firm_id),
                    [[x.park_id, x.score] for x in r.recommendations],
                    {"index": r.index, "state": r.state},
                )
            )
    return body.model_dump_json().encode("utf-8"), served


def park_leads_served(
    matcher: Matcher, park_id: str, firms: list[dict[str, Any]], top: int, audited: bool
) -> tuple[bytes, list[list[Any]], dict[str, Any]]:
    """:func:`api.service.park_leads` validated and encoded where it ran (the batch process), plus
    the leads as ``[[firm_ref, lead_score], ...]`` and the call's counts (empty when the audit is
    off)."""
    body = LeadsResponse.model_validate(service.park_leads(matcher, park_id, firms, top))
    if not audited:
        return body.model_dump_json().encode("utf-8"), [], {}
    leads = [[raw_firm_ref(firms[x.row - 1], x.firm_id), x.lead_score] for x in body.leads]
    detail = {"firms": len(firms), "errors": len(body.errors), "model_version": body.model_version}
    return body.model_dump_json().encode("utf-8"), leads, detail


def firm_brief_served(matcher: Matcher, firm: S.FirmProfile) -> tuple[bytes, list[list[Any]]]:
    """The firm brief as PDF, from the same scoring path as ``POST /v1/recommendations``, plus the
    brief's parks as ``[[park_id, score], ...]``."""
    try:
        brief = firm_brief(matcher, firm)
        return firm_brief_pdf(brief), [[p.park_id, p.score] for p in brief.parks]
    except ValueError as exc:
        raise HTTPException(422, detail={"code": "validation_error", "message": str(exc)}) from None


# --- the writer -------------------------------------------------------------------------------

# ts, caller, row estimate, builder, its arguments
_Item = tuple[float, Principal, int, Callable[..., list[Row]], tuple[Any, ...]]


def _row(ts: float, call_id: str, who: Principal | None, kind: str, model_version: str, **cols: Any) -> Row:
    detail = cols.pop("detail", None)
    top = cols.pop("top", None)
    return {
        "ts": datetime.fromtimestamp(ts, UTC),
        "call_id": call_id,
        "kind": kind,
        "key_id": who.key_id if who else None,
        "org": who.org if who else "",
        "firm_ref": cols.pop("firm_ref", None),
        "park_id": cols.pop("park_id", None),
        "model_version": model_version,
        "top": None if top is None else json.dumps(top, ensure_ascii=False),
        "detail": None if detail is None else json.dumps(detail, ensure_ascii=False, default=str),
    }


class AuditLog:
    """The per-process writer.  Routes call the typed recorders (:meth:`recommendation`,
    :meth:`batch`, ...) which only enqueue; :meth:`start` runs the writer thread and
    :meth:`close` stops it after a last flush.  With ``enabled=False`` every recorder returns at
    once and nothing is written."""

    def __init__(
        self,
        db: Database,
        enabled: bool = True,
        retention_days: int = 365,
        flush_seconds: float = 0.5,
        batch_rows: int = 500,
        max_rows: int = 100_000,
    ) -> None:
        self.db = db
        self.enabled = enabled
        self.retention_days = retention_days
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.max_rows = max_rows
        self.dropped = 0  # rows lost: queue full, or unwritable at shutdown
        self.written = 0
        self._queue: collections.deque[_Item] = collections.deque()
        self._retry: list[Row] = []
        self._pending = 0  # rows queued or waiting for a retry
        self._count = threading.Lock()
        self._io = threading.Lock()  # one writer at a time: the thread, or flush() from outside
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self._last_warn: dict[str, float] = {}

    # the request path ----------------------------------------------------------------------

    def add(self, who: Principal, rows: int, build: Callable[..., list[Row]], *args: Any) -> None:
        """Queue one call: ``build(ts, call_id, who, *args)`` makes its rows later, on the writer
        thread.  ``rows`` is how many it will make (what the bound counts)."""
        if not self.enabled:
            return
        with self._count:
            if self._pending + rows > self.max_rows:
                self.dropped += rows
                full = True
            else:
                self._pending += rows
                full = False
        if full:
            self._warn(
                "full", f"the audit queue is full ({self.max_rows} rows); {self.dropped} rows dropped so far"
            )
            return
        self._queue.append((time.time(), who, rows, build, args))
        if self._pending >= self.batch_rows:
            self._wake.set()

    def recommendation(self, who: Principal, firm: S.FirmProfile, result: dict[str, Any]) -> None:
        """One ``POST /v1/recommendations`` answer (a ``RecommendationResult`` dict)."""
        self.add(who, 1, _one_result, firm, result)

    def batch(self, who: Principal, model_version: str, served: list[Served]) -> None:
        """A ``/v1/recommendations/batch`` call: one row per firm answered."""
        if served:
            self.add(who, len(served), _many, "batch", model_version, served)

    def brief(self, who: Principal, firm: S.FirmProfile, model_version: str, top: list[list[Any]]) -> None:
        """A firm brief (PDF): the parks it lists."""
        self.add(who, 1, _firm_call, "brief", model_version, firm, None, top, None)

    def why(self, who: Principal, firm: S.FirmProfile, park_id: str, model_version: str, answer: Any) -> None:
        """A why-not answer (``WhyResponse`` dict), what-if included: the asked park's rank and
        score in ``detail``, the firm's first park in ``top``."""
        self.add(who, 1, _why, firm, park_id, model_version, answer)

    def compare(self, who: Principal, firm: S.FirmProfile, model_version: str, answer: Any) -> None:
        """A comparison (``CompareResponse`` dict): the compared parks and their scores."""
        self.add(who, 1, _compare, firm, model_version, answer)

    def leads(
        self, who: Principal, park_id: str, model_version: str, leads: list[list[Any]], detail: dict[str, Any]
    ) -> None:
        """A leads call: ``top`` holds ``[[firm_ref, lead_score], ...]`` of the leads returned."""
        self.add(who, 1, _leads, park_id, model_version, leads, detail)

    def batch_file(self, who: Principal, model_version: str, detail: dict[str, Any]) -> None:
        """A workspace batch file: one row with the job and its counts per final state."""
        self.add(who, 1, _plain, "batch_file", model_version, detail)

    def reload(self, who: Principal, path: str, previous: str, model_version: str) -> None:
        """A reload served by ``POST /v1/admin/reload``."""
        detail = {"path": path, "from": previous, "to": model_version}
        self.add(who, 1, _plain, "reload", model_version, detail)

    # the writer thread ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    def status(self) -> dict[str, int | bool]:
        """This process's writer: rows waiting, written and dropped since it started."""
        return {
            "enabled": self.enabled,
            "pending": self._pending,
            "written": self.written,
            "dropped": self.dropped,
        }

    def start(self) -> None:
        if not self.enabled or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="parkmatch-audit", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the writer and write what is queued; rows the database refuses now are counted
        as dropped (logged), so a clean shutdown loses nothing and an outage says what it lost."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.enabled and not self.flush() and self._retry:
            with self._count:
                self.dropped += len(self._retry)
                self._pending -= len(self._retry)
            log.warning("audit: %d rows could not be written at shutdown", len(self._retry))
            self._retry = []

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
            if time.monotonic() - self._last_prune >= PRUNE_EVERY_SECONDS:
                self._last_prune = time.monotonic()
                try:
                    prune(self.db, self.retention_days)
                except Exception as exc:  # the next hour tries again
                    self._warn("prune", f"pruning the audit log failed: {type(exc).__name__}: {exc}")

    def flush(self) -> bool:
        """Write everything queued now; ``False`` if the database refused (rows kept for retry)."""
        with self._io:
            items: list[_Item] = []
            while self._queue:
                items.append(self._queue.popleft())
            rows, self._retry = self._retry, []
            retried, estimated = len(rows), 0
            since_yield = 0
            for ts, who, n, build, args in items:
                estimated += n
                since_yield += n
                if since_yield >= YIELD_EVERY_ROWS:
                    since_yield = 0
                    time.sleep(0)
                try:
                    rows.extend(build(ts, uuid.uuid4().hex, who, *args))
                except Exception:  # a record that cannot be built is lost, not the writer
                    log.exception("audit: a record could not be built")
                    self.dropped += n
            with self._count:  # the estimates become the real row count
                self._pending += len(rows) - retried - estimated
            done = 0
            try:
                while done < len(rows):
                    with self.db.engine.begin() as conn:
                        conn.execute(insert(AuditEntry), rows[done : done + INSERT_CHUNK])
                    done = min(done + INSERT_CHUNK, len(rows))
                    time.sleep(0)
            except Exception as exc:
                self._retry = rows[done:]
                self._warn(
                    "write",
                    f"audit rows not written yet ({len(self._retry)} waiting): {type(exc).__name__}: {exc}",
                )
            with self._count:
                self._pending -= done
                self.written += done
            return not self._retry

    def _warn(self, what: str, message: str) -> None:
        """Log at most once per ``WARN_EVERY_SECONDS`` for each ``what``: a long outage says so
        every minute, not once per request."""
        now = time.monotonic()
        if now - self._last_warn.get(what, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS:
            self._last_warn[what] = now
            log.warning(message)


# builders: run on the writer thread, never on the request path


def _one_result(
    ts: float, call_id: str, who: Principal, firm: S.FirmProfile, result: dict[str, Any]
) -> list[Row]:
    return [
        _row(
            ts,
            call_id,
            who,
            "recommend",
            result["model_version"],
            firm_ref=firm_ref(firm),
            top=_top(result["recommendations"]),
            detail={"state": result.get("state", "matched")},
        )
    ]


def _many(
    ts: float, call_id: str, who: Principal, kind: str, version: str, served: list[Served]
) -> list[Row]:
    out = []
    for i, (ref, top, d) in enumerate(served, 1):
        out.append(_row(ts, call_id, who, kind, version, firm_ref=ref, top=top, detail=d))
        if i % YIELD_EVERY_ROWS == 0:
            time.sleep(0)  # a 1,000-firm batch must not hold the GIL against single requests
    return out


def _firm_call(
    ts: float,
    call_id: str,
    who: Principal,
    kind: str,
    version: str,
    firm: S.FirmProfile,
    park_id: str | None,
    top: list[list[Any]],
    detail: dict[str, Any] | None,
) -> list[Row]:
    return [
        _row(
            ts, call_id, who, kind, version, firm_ref=firm_ref(firm), park_id=park_id, top=top, detail=detail
        )
    ]


def _why(
    ts: float, call_id: str, who: Principal, firm: S.FirmProfile, park_id: str, version: str, answer: Any
) -> list[Row]:
    top1 = answer.get("top1")
    top = [[top1["park_id"], top1["score"]]] if top1 else []
    detail = {
        "rank": answer.get("rank"),
        "score": answer.get("score"),
        "excluded_by": answer.get("excluded_by", []),
        "what_if": len(answer.get("what_if", [])),
    }
    return _firm_call(ts, call_id, who, "why", version, firm, park_id, top, detail)


def _compare(
    ts: float, call_id: str, who: Principal, firm: S.FirmProfile, version: str, answer: Any
) -> list[Row]:
    parks = answer.get("parks", [])
    top = [[p["park_id"], p["score"]] for p in parks]
    detail = {"ranks": {p["park_id"]: p["rank"] for p in parks}}
    return _firm_call(ts, call_id, who, "compare", version, firm, None, top, detail)


def _leads(
    ts: float,
    call_id: str,
    who: Principal,
    park_id: str,
    version: str,
    leads: list[list[Any]],
    detail: dict[str, Any],
) -> list[Row]:
    return [_row(ts, call_id, who, "leads", version, park_id=park_id, top=leads, detail=detail)]


def _plain(
    ts: float, call_id: str, who: Principal, kind: str, version: str, detail: dict[str, Any]
) -> list[Row]:
    return [_row(ts, call_id, who, kind, version, detail=detail)]


async def get_audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    return audit


AuditDep = Annotated[AuditLog, Depends(get_audit)]


# --- outside a request --------------------------------------------------------------------------


def record_event(
    db: Database,
    kind: str,
    org: str,
    model_version: str,
    key_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one row now, without the writer thread: for a command that changes what is served
    outside a request (``kind="promote"`` when a retrain promotes a model, ``"reload"``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    row = _row(time.time(), uuid.uuid4().hex, None, kind, model_version, detail=detail)
    row["org"], row["key_id"] = org, key_id
    with db.engine.begin() as conn:
        conn.execute(insert(AuditEntry), [row])


# --- reading, pruning, export ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """``GET /v1/admin/audit``'s filters; ``None`` means any.  Times without a zone are UTC."""

    kind: str | None = None
    key_id: str | None = None
    park_id: str | None = None
    firm_ref: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, org: str | None) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if org is not None:
            out.append(AuditEntry.org == org)
        for col, value in (
            (AuditEntry.kind, self.kind),
            (AuditEntry.key_id, self.key_id),
            (AuditEntry.park_id, self.park_id),
            (AuditEntry.firm_ref, self.firm_ref),
        ):
            if value is not None:
                out.append(col == value)
        if self.since is not None:
            out.append(AuditEntry.ts >= as_utc(self.since).astimezone(UTC))
        if self.until is not None:
            out.append(AuditEntry.ts < as_utc(self.until).astimezone(UTC))
        return out


class AuditItem(BaseModel):
    id: int
    ts: datetime
    call_id: str = Field(description="rows of one call share it")
    kind: str = Field(description=", ".join(KINDS))
    key_id: str | None
    org: str
    firm_ref: str | None = Field(description="the firm's own id, or sha256:<hex> of its canonical profile")
    park_id: str | None = Field(description="the park asked about (why, leads)")
    model_version: str
    top: list[list[Any]] | None = Field(
        description="[[park_id, score], ...] of the answer's parks; for leads [[firm_ref, lead_score], ...]"
    )
    detail: dict[str, Any] | None


class AuditWriter(BaseModel):
    enabled: bool
    pending: int = Field(description="rows this worker has not written yet")
    written: int
    dropped: int = Field(description="rows this worker dropped (queue full while the database was down)")


class AuditPage(BaseModel):
    items: list[AuditItem]
    total: int
    limit: int
    offset: int
    writer: AuditWriter = Field(description="the answering worker's audit writer")


def _item(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "ts": as_utc(row.ts),
        "call_id": row.call_id,
        "kind": row.kind,
        "key_id": row.key_id,
        "org": row.org,
        "firm_ref": row.firm_ref,
        "park_id": row.park_id,
        "model_version": row.model_version,
        "top": json.loads(row.top) if row.top else None,
        "detail": json.loads(row.detail) if row.detail else None,
    }


def query(db: Database, org: str, flt: AuditFilter, limit: int, offset: int) -> dict[str, Any]:
    """One organisation's rows, newest first; another organisation's never appear."""
    where = flt.where(org)
    with db.session() as s:
        total = int(s.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
        rows = s.scalars(
            select(AuditEntry).where(*where).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
        )
        items = [_item(r) for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def prune(db: Database, retention_days: int, now: datetime | None = None) -> int:
    """Delete rows older than ``retention_days``; returns how many went.  ``0`` days keeps all."""
    if retention_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    with db.engine.begin() as conn:
        return int(conn.execute(delete(AuditEntry).where(AuditEntry.ts < cutoff)).rowcount or 0)


EXPORT_COLUMNS = (
    "id",
    "ts",
    "call_id",
    "kind",
    "key_id",
    "org",
    "firm_ref",
    "park_id",
    "model_version",
    "top",
    "detail",
)


def _export_batches(db: Database, where: list[ColumnElement[bool]], size: int) -> Iterator[list[AuditEntry]]:
    last = 0
    while True:
        with db.session() as s:
            rows = list(
                s.scalars(
                    select(AuditEntry).where(*where, AuditEntry.id > last).order_by(AuditEntry.id).limit(size)
                )
            )
        if not rows:
            return
        yield rows
        last = rows[-1].id


def export_parquet(
    db: Database, out: Path, flt: AuditFilter, org: str | None = None, chunk: int = 50_000
) -> int:
    """Write the matching rows to ``out`` (Parquet), oldest first, ``chunk`` rows at a time so a
    year of audit never sits in memory at once; ``top`` and ``detail`` stay JSON text and ``ts``
    is a UTC timestamp.  Returns the number of rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            *[(c, pa.string()) for c in EXPORT_COLUMNS[2:]],
        ]
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with pq.ParquetWriter(out, schema) as writer:
        for rows in _export_batches(db, flt.where(org), chunk):
            cols: dict[str, list[Any]] = {c: [] for c in EXPORT_COLUMNS}
            for r in rows:
                for c in EXPORT_COLUMNS:
                    value = getattr(r, c)
                    cols[c].append(as_utc(value) if c == "ts" else value)
            writer.write_table(pa.table(cols, schema=schema))
            n += len(rows)
        if n == 0:
            writer.write_table(schema.empty_table())
    return n


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"--{name} must be a date (YYYY-MM-DD) or an ISO time, got {value!r}") from None


def cli_audit(database_url: str, retention_days: int, args: Any) -> int:
    """``parkmatch audit export`` and ``parkmatch audit prune`` (see docs/deploy.md)."""
    db = Database(database_url)
    try:
        db.create_all()
        if args.audit_command == "prune":
            days = args.days if args.days is not None else retention_days
            n = prune(db, days)
            print(f"deleted {n} audit rows older than {days} days")
            return 0
        flt = AuditFilter(since=_day(args.since, "since"), until=_day(args.until, "until"))
        n = export_parquet(db, Path(args.out), flt, org=args.org)
        print(f"wrote {n} audit rows to {args.out}")
        return 0
    finally:
        db.dispose()

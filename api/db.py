"""Durable state of the API: API keys (salted hashes, never stored in clear), officers'
feedback (the outcomes retraining learns from), the active model, the per-key request counts of
the rate limit, the browser workspace's sessions (hashed too) and its batch runs, the audit log
of what was served, and park officers' corrections to the catalogue with each field's history.

SQLAlchemy 2 with SQLite by default (``Settings.resolved_database_url()``); the same tables work
on PostgreSQL by pointing ``PARKMATCH_DATABASE_URL`` at it.  The schema is owned by the Alembic
revisions in :mod:`api.migrations`: a change to these models needs a new revision file there.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

Role = Literal["viewer", "officer", "admin"]
ROLES: tuple[str, ...] = ("viewer", "officer", "admin")
ROLE_RANK: dict[str, int] = {r: i for i, r in enumerate(ROLES)}
KEY_PREFIX = "pm_"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite drops the time zone on the way back; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Keys made since the salted scheme carry their id: pm_<16 hex id>_<secret>.
_KEY_WITH_ID = re.compile(r"^pm_([0-9a-f]{16})_[A-Za-z0-9_-]+$")


def hash_key(key: str) -> str:
    """The unsalted SHA-256 of keys created before per-key salts (``salt`` is NULL); still
    accepted so that those keys keep working until they are rotated (docs/deploy.md)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def salted_hash(salt: str, key: str) -> str:
    """SHA-256 over a per-key random salt and the key: two stored hashes never reveal that two
    keys are equal, and a table of precomputed hashes is useless against a leaked database."""
    return hashlib.sha256(bytes.fromhex(salt) + key.encode("utf-8")).hexdigest()


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # 32 hex characters; NULL for a key created before salts, whose key_hash is unsalted.
    salt: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    firm_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    firm_name: Mapped[str] = mapped_column(String(200))
    park_id: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # why a pair was rejected (land, price, distance, talent, policy, other); NULL otherwise
    reason_category: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    # the firm as it was matched (the recommendation request's firm, JSON), so that retraining
    # can rebuild its candidates; NULL when the officer recorded only a name
    firm_profile: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    # SHA-256 of the canonical firm profile: groups one firm's outcomes across parks
    profile_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None, index=True)


class ActiveModel(Base):
    """The one model every worker and every server should serve (a single row, ``id == 1``).

    A reload writes it after its own worker verified the bundle; every worker polls it and
    swaps when ``generation`` moves, so a reload answered by one worker reaches all of them.
    ``manifest_sha256`` pins the exact bundle the verifying worker checked.
    """

    __tablename__ = "active_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(200))
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RateCount(Base):
    """Requests of one key in one fixed window (``window_start``: Unix seconds).  Every worker
    of every server increments the same row, so a key's limit holds across the whole fleet."""

    __tablename__ = "rate_counts"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token, the table only its SHA-256.

    A session acts as the key it was opened with, so revoking the key ends its sessions on the
    next request; ``csrf`` is the synchronizer token every state-changing request must echo.
    """

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BatchJob(Base):
    """A batch file uploaded in the workspace: its progress and where its result lies.

    Kept in the database rather than in a worker's memory so that any worker of any server can
    answer the page's progress polls and serve the download.
    """

    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    created_by: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"))
    filename: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    fraction: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    error: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One served result: a firm's answer in a recommendation, batch, leads or park-side call,
    or one reload.  Rows of one call share ``call_id``.  Written in batches off the request path
    (:mod:`api.audit`) and pruned after the retention period."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    # the firm's own id, or "sha256:<hex>" of its canonical profile; NULL for a reload
    firm_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    park_id: Mapped[str | None] = mapped_column(String(100), nullable=True, default=None, index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    # JSON: [[park_id, score], ...] of the answer's top parks (or the leads' top firms)
    top: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)


class ParkCorrection(Base):
    """A value an organisation proposes for one field of a park, with its source; an admin of
    the same organisation approves or rejects it, and approved values overlay the catalogue at
    the next retrain with provenance ``provided`` (机构提供)."""

    __tablename__ = "park_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org: Mapped[str] = mapped_column(String(100), index=True)
    park_id: Mapped[str] = mapped_column(String(100), index=True)
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)  # JSON
    source: Mapped[str] = mapped_column(Text)  # a URL or a document's name
    note: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    proposed_by: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"))
    proposed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    decided: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)
    # the model version that first served the approved value
    applied_in: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)


class ParkFieldHistory(Base):
    """Every change of a catalogue field by an approved correction: old and new value and
    provenance, who proposed and approved it, and when."""

    __tablename__ = "park_field_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    park_id: Mapped[str] = mapped_column(String(100), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)  # JSON
    new_value: Mapped[str] = mapped_column(Text)  # JSON
    old_provenance: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    new_provenance: Mapped[str] = mapped_column(String(16))
    correction_id: Mapped[int] = mapped_column(Integer, ForeignKey("park_corrections.id"))
    org: Mapped[str] = mapped_column(String(100), index=True)
    approved_by: Mapped[str] = mapped_column(String(32))
    changed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class ActiveRecord:
    generation: int
    path: str
    model_version: str
    manifest_sha256: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, organisation and role."""

    key_id: str
    org: str
    role: str


@dataclass(frozen=True)
class Admission:
    """A request's key check (:meth:`Database.admit`): the caller, or ``None`` for an unknown or
    revoked key; the key's count in the current rate window (0 when not counted) and the seconds
    until that window ends."""

    principal: Principal | None
    count: int
    retry_after: int


# The statements every request runs, built once: SQLAlchemy then finds their compiled form in its
# cache without rebuilding the expression and its cache key per call.
_KEY_COLUMNS = (ApiKey.id, ApiKey.org, ApiKey.role, ApiKey.revoked, ApiKey.salt, ApiKey.key_hash)
_KEY_BY_ID = select(*_KEY_COLUMNS).where(ApiKey.id == bindparam("key_id"))
_LEGACY_KEY = select(*_KEY_COLUMNS).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.salt.is_(None))
_RATE_UPSERT = {
    is_pg: (postgresql.insert if is_pg else sqlite.insert)(RateCount)
    .values(key_id=bindparam("key_id"), window_start=bindparam("start"), count=1)
    .on_conflict_do_update(
        index_elements=[RateCount.key_id, RateCount.window_start], set_={"count": RateCount.count + 1}
    )
    .returning(RateCount.count)
    for is_pg in (False, True)
}
_RATE_PRUNE = delete(RateCount).where(
    RateCount.key_id == bindparam("key_id"), RateCount.window_start < bindparam("start")
)


class Database:
    """An engine and its session factory; tables are created on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"), **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Bring the schema to the newest revision (Alembic; a no-op when it is there already)."""
        from api.migrations import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s:
            yield s

    # --- the active model -----------------------------------------------------------------

    def active_model(self) -> ActiveRecord | None:
        """The recorded active model, or ``None`` before the first reload (one primary-key read)."""
        with self.session() as s:
            row = s.get(ActiveModel, 1)
            if row is None:
                return None
            return ActiveRecord(row.generation, row.path, row.model_version, row.manifest_sha256)

    def set_active_model(self, path: str, model_version: str, manifest_sha256: str) -> ActiveRecord:
        """Record a verified bundle as the active one; the generation only ever grows."""
        with self.session() as s:
            row = s.get(ActiveModel, 1, with_for_update=True)
            if row is None:
                row = ActiveModel(id=1, generation=0, path="", model_version="", manifest_sha256="")
                s.add(row)
            row.generation = (row.generation or 0) + 1
            row.path, row.model_version, row.manifest_sha256 = path, model_version, manifest_sha256
            row.updated = utcnow()
            s.commit()
            return ActiveRecord(row.generation, row.path, row.model_version, row.manifest_sha256)

    # --- keys ------------------------------------------------------------------------------

    def create_key(self, org: str, role: str, label: str = "") -> tuple[ApiKey, str]:
        """A new key; the clear text is returned once and only its salted SHA-256 is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not org.strip():
            raise ValueError("org must not be blank")
        key_id, salt = secrets.token_hex(8), secrets.token_hex(16)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            id=key_id,
            org=org.strip(),
            role=role,
            label=label,
            key_hash=salted_hash(salt, key),
            salt=salt,
            created=utcnow(),
        )
        with self.session() as s:
            s.add(row)
            s.commit()
        return row, key

    def list_keys(self) -> list[ApiKey]:
        with self.session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created, ApiKey.id)))

    def get_key(self, key_id: str) -> ApiKey | None:
        with self.session() as s:
            return s.get(ApiKey, key_id)

    def revoke_key(self, key_id: str) -> ApiKey | None:
        with self.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                return None
            if row.revoked is None:
                row.revoked = utcnow()
                s.commit()
        return row

    def count_keys(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(ApiKey)) or 0)

    def authenticate(self, key: str) -> Principal | None:
        """The principal of a valid, unrevoked key, or ``None``.

        Every request asks the database (one indexed lookup, well under a millisecond): there is
        no per-process cache, so a revocation made by any worker, server or ``parkmatch keys
        revoke`` is refused by every worker on its next request."""
        with self.engine.connect() as conn:
            return self._principal(conn, key)

    def _principal(self, conn: Connection, key: str) -> Principal | None:
        row = None
        found = _KEY_WITH_ID.match(key)
        if found is not None:  # one primary-key read, then a constant-time comparison
            hit = conn.execute(_KEY_BY_ID, {"key_id": found[1]}).first()
            if hit is not None and hit.salt:
                row = hit if hmac.compare_digest(hit.key_hash, salted_hash(hit.salt, key)) else None
        if row is None:  # a key from before salts
            row = conn.execute(_LEGACY_KEY, {"key_hash": hash_key(key)}).first()
        if row is None or row.revoked is not None:
            return None
        return Principal(key_id=row.id, org=row.org, role=row.role)

    def admit(
        self, key: str, window_seconds: int, counted_roles: Collection[str], now: float | None = None
    ) -> Admission:
        """:meth:`authenticate` and, for a valid key whose role is in ``counted_roles``,
        :meth:`count_request`, in one connection and one transaction.

        This is what every API request pays before its body is read, so it is one pooled
        connection (one liveness ping on PostgreSQL, not two), statements compiled once, and one
        hop to a thread for the caller instead of two.  The semantics are those of the two calls:
        the key is read on every request, so a revocation holds on the next one everywhere."""
        with self.engine.begin() as conn:
            principal = self._principal(conn, key)
            if principal is None or principal.role not in counted_roles:
                return Admission(principal, 0, 0)
            count, retry_after = self._count(conn, principal.key_id, window_seconds, now)
        return Admission(principal, count, retry_after)

    # --- rate limits -----------------------------------------------------------------------

    def count_request(self, key_id: str, window_seconds: int, now: float | None = None) -> tuple[int, int]:
        """Count one request of ``key_id`` in the current fixed window; returns the window's
        count including this one and the whole seconds until the window ends (``Retry-After``).

        One upsert per request (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, atomic on SQLite
        and PostgreSQL); the first request of a window deletes that key's older windows."""
        with self.engine.begin() as conn:
            return self._count(conn, key_id, window_seconds, now)

    def _count(
        self, conn: Connection, key_id: str, window_seconds: int, now: float | None
    ) -> tuple[int, int]:
        now = time.time() if now is None else now
        start = int(now // window_seconds) * window_seconds
        upsert = _RATE_UPSERT[self.engine.dialect.name == "postgresql"]
        count = int(conn.execute(upsert, {"key_id": key_id, "start": start}).scalar_one())
        if count == 1:
            conn.execute(_RATE_PRUNE, {"key_id": key_id, "start": start})
        return count, max(1, math.ceil(start + window_seconds - now))

    # --- browser sessions ------------------------------------------------------------------

    def open_web_session(self, key: str, ttl: timedelta) -> tuple[Principal, str, str] | None:
        """Sign in with ``key``: ``(principal, cookie token, CSRF token)``, or ``None`` for a bad key.

        Expired sessions are swept here, so the table stays as small as the signed-in users."""
        principal = self.authenticate(key)
        if principal is None:
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        with self.session() as s:
            s.execute(delete(WebSession).where(WebSession.expires < now))
            s.add(
                WebSession(
                    token_hash=hash_key(token),
                    key_id=principal.key_id,
                    csrf=csrf,
                    created=now,
                    expires=now + ttl,
                )
            )
            s.commit()
        return principal, token, csrf

    def web_session(self, token: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a live session whose key is still valid, else ``None``."""
        with self.session() as s:
            row = s.execute(
                select(
                    WebSession.csrf, WebSession.expires, ApiKey.id, ApiKey.org, ApiKey.role, ApiKey.revoked
                )
                .join(ApiKey, ApiKey.id == WebSession.key_id)
                .where(WebSession.token_hash == hash_key(token))
            ).first()
        if row is None or row.revoked is not None or as_utc(row.expires) <= utcnow():
            return None
        return Principal(key_id=row.id, org=row.org, role=row.role), row.csrf

    def end_web_session(self, token: str) -> None:
        with self.session() as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == hash_key(token)))
            s.commit()

    # --- batch runs of the workspace -------------------------------------------------------

    def add_batch_job(self, job: BatchJob) -> None:
        with self.session() as s:
            s.add(job)
            s.commit()

    def batch_job(self, job_id: str) -> BatchJob | None:
        with self.session() as s:
            return s.get(BatchJob, job_id)

    def update_batch_job(self, job_id: str, **values: Any) -> None:
        with self.session() as s:
            row = s.get(BatchJob, job_id)
            if row is None:
                return
            for name, value in values.items():
                setattr(row, name, value)
            row.updated = utcnow()
            s.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()

"""Dependencies shared by the routes: the HTTP configuration, the served model, the database, the caller."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.config import ApiConfig
from api.db import ROLE_RANK, Database, Principal
from api.ratelimit import RATE_LIMITED, admit, message
from api.web.session import SessionRefused, session_principal
from features import schemas as S
from features.reference import park_to_profile
from matcher.bundle import MANIFEST, BundleError, release_memory, sha256, verify_in_child
from matcher.core import Matcher

T = TypeVar("T")


@dataclass(frozen=True)
class ModelState:
    """A loaded matcher and what the routes derive from it, swapped as one object."""

    matcher: Matcher
    path: str
    parks: tuple[S.ParkProfile, ...]
    park_ids: frozenset[str]
    # The digest of the manifest this matcher was loaded from, taken at load time: the files on
    # disk may be replaced later, the served model is not.  Empty for a model held in memory.
    manifest_sha256: str = ""

    @classmethod
    def build(cls, matcher: Matcher, path: Path | str, manifest_sha256: str = "") -> ModelState:
        profiles = tuple(
            park_to_profile({str(k): v for k, v in r.items()}) for r in matcher.parks.to_dict("records")
        )
        return cls(matcher, str(path), profiles, frozenset(p.park_id for p in profiles), manifest_sha256)

    @classmethod
    def load_pinned(cls, path: Path, manifest_sha256: str) -> ModelState:
        """Load a bundle another worker already verified in a child process: its manifest must
        have the digest that worker recorded, and :func:`matcher.bundle.read_manifest` then
        checks every file against it, so these are the very bytes that passed the child test."""
        digest = sha256(Path(path) / MANIFEST) if (Path(path) / MANIFEST).exists() else "(none)"
        if digest != manifest_sha256:
            raise BundleError(
                f"model bundle {path} is not the one that was verified "
                f"(manifest {digest[:12]}…, recorded {manifest_sha256[:12]}…)"
            )
        return cls.build(Matcher.load(Path(path)), path, digest)

    @classmethod
    def load_verified(cls, path: Path, current: ModelState | None = None) -> ModelState:
        """Test-load ``path`` in a child process first (:func:`matcher.bundle.verify_in_child`),
        then load it here.  A bundle that would crash LightGBM kills the child, not the server;
        the manifest digest ties the in-process load to the bundle the child checked.  When
        ``current`` is that very bundle (same path, same digest) it is kept, not loaded twice."""
        checked = verify_in_child(path)
        digest = sha256(Path(path) / MANIFEST)
        if digest != checked.get("manifest_sha256"):
            raise BundleError(f"model bundle {path} changed while it was being verified; try again")
        if current is not None and current.same_bundle(path, digest):
            return current
        return cls.build(Matcher.load(Path(path)), path, digest)

    def same_bundle(self, path: Path | str, digest: str) -> bool:
        """Whether this state was loaded from ``path`` with manifest ``digest``."""
        return (
            bool(self.manifest_sha256)
            and self.manifest_sha256 == digest
            and (Path(self.path).resolve() == Path(path).resolve())
        )


class ModelHolder:
    """Holds the current :class:`ModelState`.  Readers take a reference (an atomic attribute
    read) and keep using it for the whole request, so a reload never changes a model mid-request."""

    def __init__(self) -> None:
        self._state: ModelState | None = None
        self.reload_lock = threading.Lock()
        self.last_error: str | None = None
        # The database's active-model generation this worker serves (0: none recorded yet).
        self.generation = 0
        self.refused_generation = -1

    @property
    def state(self) -> ModelState:
        state = self._state
        if state is None:
            raise HTTPException(
                503, detail={"code": "model_not_loaded", "message": "the model is not loaded yet"}
            )
        return state

    @property
    def loaded(self) -> bool:
        return self._state is not None

    @property
    def current(self) -> ModelState | None:
        """The served state, or ``None`` before the first load (no 503, unlike :attr:`state`)."""
        return self._state

    def swap(self, state: ModelState, generation: int | None = None) -> ModelState | None:
        old, self._state = self._state, state
        if generation is not None:
            self.generation = generation
        return old

    def follow(self, db: Database) -> bool:
        """Swap to the database's active model if its generation moved; ``True`` if it swapped.

        Called by every worker's watcher (:func:`api.main.watch_active_model`).  A bundle that
        fails here is remembered as refused, so a broken record is not retried every poll.
        """
        record = db.active_model()
        if record is None or record.generation in (self.generation, self.refused_generation):
            return False
        if not self.reload_lock.acquire(blocking=False):
            return False
        try:
            current = self._state
            if current is not None and current.same_bundle(record.path, record.manifest_sha256):
                state = current  # the fleet moved to the bundle this worker already serves
            else:
                state = ModelState.load_pinned(Path(record.path), record.manifest_sha256)
        except Exception as exc:
            self.refused_generation = record.generation
            self.last_error = f"generation {record.generation}: {type(exc).__name__}: {exc}"
            return False
        finally:
            self.reload_lock.release()
        old = self.swap(state, record.generation)
        self.last_error = None
        if old is not state:
            del old
            release_memory()
        return True


class Inference:
    """The threads that run the matcher.  Each is limited to one OpenMP/BLAS thread: a request
    is a small computation, and OpenMP teams spinning on a busy machine cost more than they
    save (measured: ~2 ms per firm single-threaded against 20-40 ms with spinning teams).

    Single recommendations and batch calls get one ``Inference`` each (``app.state.inference``
    and ``app.state.batch_inference``), so a 1,000-firm batch (~1.7 s of matcher time) never sits
    in front of a single firm.  The batch pool's threads run at ``niceness`` (Linux schedules
    threads separately), so on a busy machine the kernel gives the CPU to single requests first,
    and it admits at most ``max_pending`` calls (running or waiting): the next one is refused
    with a 503 instead of piling up bodies in memory.
    """

    def __init__(self, threads: int = 1, max_pending: int | None = None, niceness: int = 0) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=threads,
            thread_name_prefix="parkmatch-infer" if niceness == 0 else "parkmatch-batch",
            initializer=_one_thread,
            initargs=(niceness,),
        )
        self.max_pending = max_pending
        self.pending = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.max_pending is not None and self.pending >= self.max_pending:
            raise busy(self.max_pending)
        self.pending += 1  # only touched on the event loop thread
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self.executor, functools.partial(fn, *args)
            )
        finally:
            self.pending -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def busy(max_pending: int) -> HTTPException:
    """The 503 for a batch call over the admission limit."""
    return HTTPException(
        503,
        detail={
            "code": "busy",
            "message": (
                f"批量请求过多：每个进程最多同时处理 {max_pending} 个批量请求，请稍后重试 "
                f"(at most {max_pending} batch calls at once per worker; retry later)"
            ),
        },
        headers={"Retry-After": "5"},
    )


def _one_thread(niceness: int = 0) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if niceness and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # a platform without per-thread priorities runs it as is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


async def get_inference(request: Request) -> Inference:
    inference: Inference = request.app.state.inference
    return inference


async def get_config(request: Request) -> ApiConfig:
    config: ApiConfig = request.app.state.config
    return config


async def get_model(request: Request) -> ModelState:
    holder: ModelHolder = request.app.state.models
    return holder.state


async def get_holder(request: Request) -> ModelHolder:
    holder: ModelHolder = request.app.state.models
    return holder


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key bound to an organisation and a role"
)
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        401, detail={"code": "unauthorized", "message": message}, headers={"WWW-Authenticate": "Bearer"}
    )


async def get_principal(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
    api_key: Annotated[str | None, Depends(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    gated: Principal | None = getattr(request.state, "principal", None)
    if gated is not None:  # verified and counted by api.gate.RequestGate before the body was read
        return gated
    key = api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        return await _session_caller(request, db)
    limits = request.app.state.config.rate_limits
    principal, retry_after = await run_in_threadpool(admit, db, limits, key)
    if principal is None:
        raise _unauthorized("the API key is unknown or revoked")
    if retry_after is not None:
        raise HTTPException(
            429,
            detail={"code": RATE_LIMITED, "message": message(limits, principal.role, retry_after)},
            headers={"Retry-After": str(retry_after)},
        )
    return principal


async def _session_caller(request: Request, db: Database) -> Principal:
    """No key: the workspace's session cookie (with its CSRF token on a state-changing method)."""
    try:
        found = await run_in_threadpool(session_principal, db, request.scope["headers"], request.method)
    except SessionRefused as refused:
        raise HTTPException(
            refused.status, detail={"code": refused.code, "message": refused.message}
        ) from None
    if found is None:
        raise _unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)")
    return found


def require_role(minimum: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers whose role is at least ``minimum`` (viewer < officer < admin)."""
    need = ROLE_RANK[minimum]

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if ROLE_RANK.get(principal.role, -1) < need:
            raise HTTPException(
                403,
                detail={
                    "code": "forbidden",
                    "message": f"this needs the {minimum} role; the key's role is {principal.role}",
                },
            )
        return principal

    return check


ConfigDep = Annotated[ApiConfig, Depends(get_config)]
ModelDep = Annotated[ModelState, Depends(get_model)]
InferenceDep = Annotated[Inference, Depends(get_inference)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
DbDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
AnyKey = Annotated[Principal, Depends(require_role("viewer"))]
Officer = Annotated[Principal, Depends(require_role("officer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]

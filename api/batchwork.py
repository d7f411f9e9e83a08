"""Batch calls in a child process per worker, at the lowest CPU priority.

A batch thread inside the worker, however low its niceness, shares the worker's GIL with the
single requests: every single firm waits for the batch thread's switch interval, and a 1,000-firm
batch then stretches single-firm p99 several times.  A child process has its own interpreter, so
the kernel alone decides, and the child runs under ``SCHED_IDLE`` (niceness 19 where that policy
is missing): it gets a core only when no single request wants one.

The child loads the bundle the worker serves, checked against the manifest digest the worker
recorded (:meth:`api.deps.ModelState.load_pinned`), and follows reloads: each call names the
bundle and digest to use, and the child drops its old model before loading a new one.  Results
come back as encoded JSON bytes, so the worker's event loop never walks a 10,000-recommendation
answer.  A worker whose model lives only in memory (tests hand one in) runs batch calls on a
thread as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from api.deps import Inference, ModelState, busy
from matcher.bundle import release_memory

log = logging.getLogger("parkmatch.api")

# (path, manifest digest, matcher) of the model this child process holds.
_HELD: tuple[str, str, Any] | None = None


# How often the child checks that the worker that started it is still alive.
PARENT_CHECK_SECONDS = 1.0


def _child_start(worker: int) -> None:
    """Lowest priority, one OpenMP/BLAS thread, and an exit when the worker (pid ``worker``) is
    gone."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)
    threading.Thread(target=_exit_with_parent, args=(worker,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this process once the worker that started it has gone.

    The child holds both ends of its own task pipe, so it never sees end-of-file when the worker
    dies: a worker killed outright, or one stopped while its child is still starting (the
    warm-up is sent at startup, and the child may only finish importing after a quickly stopped
    worker has exited), would leave the child waiting, a whole model in memory, for good.  The
    worker's pid comes from the worker itself, since by the time the child runs its parent may
    already be init.  Polling works whatever thread started the child (``PR_SET_PDEATHSIG``
    follows the starting thread, which may be a short-lived pool thread)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _matcher(path: str, digest: str) -> Any:
    global _HELD
    if _HELD is None or _HELD[:2] != (path, digest):
        _HELD = None
        release_memory()
        _HELD = (path, digest, ModelState.load_pinned(Path(path), digest).matcher)
    return _HELD[2]


def _call(path: str, digest: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Run ``fn(matcher, *args)`` here; an HTTP error travels back as plain values."""
    try:
        out = fn(_matcher(path, digest), *args)
    except HTTPException as exc:
        return ("error", exc.status_code, exc.detail, dict(exc.headers or {}))
    if isinstance(out, Response):
        return ("ok", out.status_code, bytes(out.body), out.media_type)
    return ("value", out)


def _warm(path: str, digest: str) -> str:
    return str(_matcher(path, digest).model_version)


def held() -> tuple[int, str, str, int]:
    """(pid, bundle path, manifest digest, scheduling policy) of the calling batch process:
    what an operator's check or a test asks the child."""
    path, digest = (_HELD[0], _HELD[1]) if _HELD is not None else ("", "")
    return os.getpid(), path, digest, os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else -1


class BatchWork(Inference):
    """:class:`api.deps.Inference` for batch calls: the same admission limit (``max_pending``,
    then 503), with the work in ``processes`` child processes."""

    def __init__(self, processes: int = 1, max_pending: int | None = None, niceness: int = 19) -> None:
        super().__init__(1, max_pending=max_pending, niceness=niceness)
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_start,
                initargs=(os.getpid(),),
            )
        return self._pool

    def ask(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` in the batch process and wait for it (a probe such as :func:`held`)."""
        return self._executor().submit(fn).result(timeout=120)

    def warm(self, state: ModelState) -> Future[str] | None:
        """Load ``state``'s bundle in the child now, so the first batch after a start or a
        reload does not pay for it; ``None`` for a model that lives only in memory."""
        if not state.manifest_sha256:
            return None
        return self._executor().submit(_warm, state.path, state.manifest_sha256)

    async def run_model(self, state: ModelState, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(state.matcher, *args)``, in the child when the bundle is on disk."""
        digest = state.manifest_sha256
        if not digest:
            return await self.run(fn, state.matcher, *args)
        if self.max_pending is not None and self.pending >= self.max_pending:
            raise busy(self.max_pending)
        self.pending += 1  # only touched on the event loop thread
        try:
            future = self._executor().submit(_call, state.path, digest, fn, args)
            try:
                out = await asyncio.wrap_future(future)
            except BrokenProcessPool:
                self._pool = None  # the next call starts a fresh child
                log.error("the batch process died; a new one starts with the next batch call")
                raise HTTPException(
                    503,
                    detail={
                        "code": "batch_process_lost",
                        "message": "批量计算进程意外退出，请重试 (the batch process exited; retry)",
                    },
                    headers={"Retry-After": "5"},
                ) from None
        finally:
            self.pending -= 1
        kind = out[0]
        if kind == "error":
            raise HTTPException(out[1], detail=out[2], headers=out[3] or None)
        if kind == "ok":
            return Response(out[2], status_code=out[1], media_type=out[3])
        return out[1]

    def shutdown(self) -> None:
        super().shutdown()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def warm_in_background(work: BatchWork, state: ModelState) -> None:
    """Fire-and-forget :meth:`BatchWork.warm`; a failure is logged, the next call retries."""
    try:
        future = work.warm(state)
    except Exception:  # a pool that cannot start must not stop the server
        log.exception("starting the batch process failed")
        return
    if future is not None:
        future.add_done_callback(functools.partial(_log_warm, state.path))


def _log_warm(path: str, future: Future[str]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("the batch process could not load %s: %s", path, exc)


async def get_batch_work(request: Request) -> BatchWork:
    work: BatchWork = request.app.state.batch_inference
    return work


BatchWorkDep = Annotated[BatchWork, Depends(get_batch_work)]

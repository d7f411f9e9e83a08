"""GET /health, /ready and /version (no key needed) and POST /v1/admin/reload."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.audit import AuditDep
from api.batchwork import BatchWorkDep, warm_in_background
from api.deps import Admin, ConfigDep, DbDep, HolderDep, ModelHolder, ModelState
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse, Health, Ready, ReloadRequest, ReloadResponse, VersionInfo
from api.service import parkmatch_version
from matcher.bundle import release_memory

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health, summary="Liveness, and this worker's model")
async def health(request: Request) -> Any:
    """Liveness: answers while the process runs.  Each worker reports its own pid and model
    version, so a mixed fleet is visible; ``/ready`` is the one a load balancer should route on."""
    holder: ModelHolder = request.app.state.models
    base = {
        "status": "ok",
        "pid": os.getpid(),
        "last_reload_error": holder.last_error,
        "requests_served": request.app.state.served[0],
    }
    if not holder.loaded:
        return {**base, "model_loaded": False, "model_version": "", "catalogue_size": 0}
    state: ModelState = holder.state
    return {
        **base,
        "model_loaded": True,
        "model_version": state.matcher.model_version,
        "catalogue_size": len(state.parks),
    }


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "no model is loaded on this worker"}},
    summary="Readiness: 200 once this worker serves a verified model",
)
async def ready(request: Request) -> Any:
    holder: ModelHolder = request.app.state.models
    if not holder.loaded:
        return JSONResponse({"ready": False, "model_version": "", "pid": os.getpid()}, status_code=503)
    return {"ready": True, "model_version": holder.state.matcher.model_version, "pid": os.getpid()}


@router.get(
    "/version", response_model=VersionInfo, summary="Versions of parkmatch, the model and its libraries"
)
async def version(holder: HolderDep) -> Any:
    manifest = holder.state.matcher.manifest
    libs = manifest.get("libraries") or {}
    return {
        "parkmatch": parkmatch_version(),
        "model_version": holder.state.matcher.model_version,
        "model_created": manifest.get("created"),
        "libraries": {str(k): str(v) for k, v in libs.items()},
    }


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    responses={
        **ERROR_RESPONSES,
        409: {
            "model": ErrorResponse,
            "description": "the bundle could not be loaded; the old model keeps serving",
        },
    },
    summary="Verify a model bundle, swap it in, and record it so every worker follows (admin)",
)
async def reload(
    holder: HolderDep,
    config: ConfigDep,
    db: DbDep,
    batches: BatchWorkDep,
    log: AuditDep,
    who: Admin,
    body: ReloadRequest | None = None,
) -> Any:
    path = Path(body.path) if body is not None and body.path else config.model_dir
    if not holder.reload_lock.acquire(blocking=False):
        raise HTTPException(
            409, detail={"code": "reload_in_progress", "message": "another reload is running"}
        )
    try:
        state = await run_in_threadpool(ModelState.load_verified, path, holder.current)
        record = await run_in_threadpool(
            db.set_active_model, str(path.resolve()), state.matcher.model_version, state.manifest_sha256
        )
    except Exception as exc:  # BundleError, or anything else a broken bundle throws: keep the old model
        holder.last_error = f"{type(exc).__name__}: {exc}"
        raise HTTPException(
            409,
            detail={
                "code": "bundle_invalid",
                "message": f"{holder.last_error}; the previous model keeps serving",
                "field": "path",
            },
        ) from None
    finally:
        holder.reload_lock.release()
    old = holder.swap(state, record.generation)
    holder.last_error = None
    previous = old.matcher.model_version if old else ""
    if old is not state:
        del old
        await run_in_threadpool(release_memory)
        warm_in_background(batches, state)
    log.reload(who, str(path), previous, state.matcher.model_version)
    return {
        "model_version": state.matcher.model_version,
        "previous_version": previous,
        "path": str(path),
        "catalogue_size": len(state.parks),
    }

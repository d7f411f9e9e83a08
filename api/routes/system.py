"""GET /health and /version (no key needed) and POST /v1/admin/reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, ConfigDep, HolderDep, ModelState
from api.errors import ERROR_RESPONSES
from api.models import ErrorResponse, Health, ReloadRequest, ReloadResponse, VersionInfo
from api.service import parkmatch_version

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health, summary="Liveness and the served model")
async def health(request: Request) -> Any:
    holder = request.app.state.models
    if not holder.loaded:
        return {"status": "ok", "model_loaded": False, "model_version": "", "catalogue_size": 0}
    state: ModelState = holder.state
    return {
        "status": "ok",
        "model_loaded": True,
        "model_version": state.matcher.model_version,
        "catalogue_size": len(state.parks),
    }


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
    summary="Load a model bundle and swap it in atomically (admin)",
)
async def reload(holder: HolderDep, config: ConfigDep, _who: Admin, body: ReloadRequest | None = None) -> Any:
    path = Path(body.path) if body is not None and body.path else config.model_dir
    if not holder.reload_lock.acquire(blocking=False):
        raise HTTPException(
            409, detail={"code": "reload_in_progress", "message": "another reload is running"}
        )
    try:
        state = await run_in_threadpool(ModelState.load_verified, path)
    except Exception as exc:  # BundleError, or anything else a broken bundle throws: keep the old model
        raise HTTPException(
            409,
            detail={
                "code": "bundle_invalid",
                "message": f"{type(exc).__name__}: {exc}; the previous model keeps serving",
                "field": "path",
            },
        ) from None
    finally:
        holder.reload_lock.release()
    old = holder.swap(state)
    return {
        "model_version": state.matcher.model_version,
        "previous_version": old.matcher.model_version if old else "",
        "path": str(path),
        "catalogue_size": len(state.parks),
    }

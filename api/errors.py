"""One error shape everywhere: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.models import ErrorResponse

log = logging.getLogger("parkmatch.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}

# Declared on every route so the OpenAPI document describes what the handlers return.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not valid JSON (`field` is `body`)"},
    401: {"model": ErrorResponse, "description": "missing, unknown or revoked API key"},
    403: {"model": ErrorResponse, "description": "the key's role is not allowed here"},
    422: {"model": ErrorResponse, "description": "invalid input; `field` names it"},
    429: {
        "model": ErrorResponse,
        "description": "the key's rate limit is used up; `Retry-After` gives the seconds to wait",
        "headers": {
            "Retry-After": {"description": "seconds until the limit resets", "schema": {"type": "integer"}}
        },
    },
}
PUBLIC_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {422: ERROR_RESPONSES[422]}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return {"error": err}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def dotted(loc: Sequence[Any]) -> str:
    """``("body", "firms", 0, "name")`` → ``"firms.0.name"``; the request part is dropped."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        # FastAPI reports the character position as the location; the field is the whole body.
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        where = first.get("loc", ("body", "?"))[-1]
        return error_response(
            400,
            "invalid_json",
            f"请求体不是有效的 JSON（第 {where} 个字符处）"
            f"(the body is not valid JSON: {reason} at character {where})",
            "body",
        )
    field = dotted(first.get("loc", ())) or "body"
    message = str(first.get("msg", "invalid request"))
    if first.get("type") == "extra_forbidden":
        message = f"unknown field '{field}'"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return error_response(422, "validation_error", message, field)


async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    headers = dict(exc.headers) if exc.headers else None
    if isinstance(detail, dict) and "code" in detail and "message" in detail:
        return error_response(
            exc.status_code, str(detail["code"]), str(detail["message"]), detail.get("field"), headers
        )
    code = _CODES.get(exc.status_code, "error")
    message = str(detail) if detail else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, headers=headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error; the incident was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)

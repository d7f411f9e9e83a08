"""The request gate: the API key is checked, then the body size, before any route reads the body.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so an auth
dependency alone lets an unauthenticated client make the server buffer and parse any amount of
JSON (measured before this gate: a 200 MB POST took 2.1 s and 590 MiB to get its 401).  This
pure ASGI middleware runs first:

1. ``/v1`` requests with a body (POST, PUT, PATCH) without a valid, unrevoked key (or a live
   workspace session with its CSRF token, :mod:`api.web.session`) get their 401 (403 for a bad
   CSRF token) before one body byte is read; the verified :class:`~api.db.Principal` is left in
   ``scope["state"]`` for the dependencies.
2. The key's rate limit is counted (:mod:`api.ratelimit`); over it, a 429 with ``Retry-After``,
   again before the body is read.
3. A declared ``Content-Length`` above ``ApiConfig.max_body_bytes`` gets a 413 at once; a
   chunked body is counted as it streams and cut off with a 413 as soon as it passes the cap.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import ratelimit
from api.config import RateLimits
from api.db import Database, Principal
from api.errors import error_response
from api.web.session import SessionRefused, session_principal

PROTECTED_PREFIX = "/v1/"
# Requests that carry a body; the others are authenticated by the routes' dependencies, so an
# unknown GET path still answers 404.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UNAUTHORIZED = "the API key is unknown or revoked"
MISSING_KEY = "an API key is required (X-API-Key header or Authorization: Bearer)"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap.  An ``HTTPException`` so that
    FastAPI's body reader re-raises it as it is, instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large_detail(limit))


def too_large_detail(limit: int) -> dict[str, str]:
    return {
        "code": "payload_too_large",
        "message": f"请求体过大：上限 {limit:,} 字节 (the request body exceeds the {limit:,}-byte limit)",
        "field": "body",
    }


def api_key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from ``X-API-Key``, else from ``Authorization: Bearer``; as the dependencies read it."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key" and value:
            return value.decode("latin-1")
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
    return bearer


class RequestGate:
    def __init__(self, app: ASGIApp, max_body_bytes: int, rate_limits: RateLimits | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.rate_limits = rate_limits or RateLimits(0, 0, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served = scope["app"].state.served  # per worker process: shows how evenly load spreads
        served[0] += 1
        if scope.get("method") in BODY_METHODS and str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            headers = scope.get("headers", [])
            key = api_key_from_headers(headers)
            db: Database = scope["app"].state.db
            principal: Principal | None
            if not key:
                try:  # the workspace's own calls: session cookie plus CSRF header
                    principal = await run_in_threadpool(session_principal, db, headers, scope["method"])
                except SessionRefused as refused:
                    await _reply(scope, receive, send, refused.status, refused.code, refused.message)
                    return
                if principal is None:
                    await _reply(scope, receive, send, 401, "unauthorized", MISSING_KEY)
                    return
                retry_after = await run_in_threadpool(ratelimit.over_limit, db, self.rate_limits, principal)
            else:  # the key is checked and the request counted in one database round
                principal, retry_after = await run_in_threadpool(ratelimit.admit, db, self.rate_limits, key)
                if principal is None:
                    await _reply(scope, receive, send, 401, "unauthorized", UNAUTHORIZED)
                    return
            if retry_after is not None:
                text = ratelimit.message(self.rate_limits, principal.role, retry_after)
                await _reply(scope, receive, send, 429, ratelimit.RATE_LIMITED, text, retry_after=retry_after)
                return
            scope.setdefault("state", {})["principal"] = principal
        declared = _content_length(scope.get("headers", []))
        limit = self.max_body_bytes
        if declared is not None and declared > limit:
            detail = too_large_detail(limit)
            await _reply(scope, receive, send, 413, detail["code"], detail["message"], "body")
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, capped, send)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    text: str,
    field: str | None = None,
    retry_after: int | None = None,
) -> None:
    """Answer without reading the body; uvicorn closes the connection if the client keeps sending."""
    headers: dict[str, str] = {"Connection": "close"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    response = error_response(status, code, text, field, headers=headers)
    await response(scope, receive, send)

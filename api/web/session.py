"""Browser sessions as callers of the JSON API: the cookie names the session, a header proves intent.

A page signs in once with its API key (``POST /web/login``); from then on the browser holds an
HttpOnly, SameSite=Strict cookie and never the key.  The page's own ``/v1`` calls are then
authenticated by that cookie, and every state-changing call must also send the session's
synchronizer token in ``X-CSRF-Token``: another site can make the browser send the cookie, but
it cannot read the token out of our page, so a forged request is refused.  An API key, when
present, always wins: scripts and the API documentation keep working as before.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import cookie_parser

from api.db import Database, Principal

COOKIE = "pm_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class SessionRefused(Exception):
    """Why a cookie-authenticated request is refused, as the API's error shape wants it."""

    status: int
    code: str
    message: str


NO_SESSION = SessionRefused(
    401, "unauthorized", "登录已失效，请重新登录 (the session is unknown or has ended)"
)
BAD_CSRF = SessionRefused(
    403, "csrf_failed", "请求缺少有效的 CSRF 令牌，已拒绝 (missing or wrong X-CSRF-Token for this session)"
)


def session_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The session cookie's value from raw ASGI headers, or ``None``."""
    for name, value in headers:
        if name == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if token:
                return token
    return None


def header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


def session_principal(db: Database, headers: list[tuple[bytes, bytes]], method: str) -> Principal | None:
    """The caller of a request that carries the session cookie; ``None`` if it carries none.

    Raises :class:`SessionRefused` for an unknown or ended session, and for a state-changing
    method whose ``X-CSRF-Token`` does not match the session's token.
    """
    token = session_token(headers)
    if token is None:
        return None
    found = db.web_session(token)
    if found is None:
        raise NO_SESSION
    principal, csrf = found
    if method not in SAFE_METHODS:
        sent = header(headers, CSRF_HEADER.encode())
        if not sent or not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise BAD_CSRF
    return principal

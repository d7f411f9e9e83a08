"""Per-key rate limits: requests per key per fixed window, by role, counted in the database.

The request gate counts ``/v1`` requests with a body before reading it; the key dependency
(:func:`api.deps.get_principal`) counts the others.  Over the limit: 429 with ``Retry-After``.
"""

from __future__ import annotations

from api.config import RateLimits
from api.db import ROLES, Database, Principal

RATE_LIMITED = "rate_limited"


def admit(db: Database, limits: RateLimits, key: str) -> tuple[Principal | None, int | None]:
    """Check ``key`` and count this request in one database round (:meth:`Database.admit`):
    the caller (``None`` for an unknown or revoked key) and, when over the key's limit, the
    seconds to wait."""
    counted = [role for role in ROLES if limits.for_role(role) > 0]
    admission = db.admit(key, limits.window_seconds, counted)
    principal = admission.principal
    if principal is None or principal.role not in counted:
        return principal, None
    over = admission.count > limits.for_role(principal.role)
    return principal, (admission.retry_after if over else None)


def over_limit(db: Database, limits: RateLimits, principal: Principal) -> int | None:
    """Count this request; the seconds to wait if it is over the key's limit, else ``None``."""
    allowed = limits.for_role(principal.role)
    if allowed <= 0:
        return None
    count, retry_after = db.count_request(principal.key_id, limits.window_seconds)
    return retry_after if count > allowed else None


def message(limits: RateLimits, role: str, retry_after: int) -> str:
    allowed = limits.for_role(role)
    return (
        f"请求过于频繁：{role} 角色的密钥每 {limits.window_seconds} 秒最多 {allowed} 次请求，"
        f"请 {retry_after} 秒后重试 (rate limit of {allowed} requests per {limits.window_seconds} s "
        f"for the {role} role; retry in {retry_after} s)"
    )

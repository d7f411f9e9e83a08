"""The HTTP layer's own configuration: typed values handed in by the composition root."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RateLimits:
    """Requests per key per ``window_seconds``, by the key's role; ``0`` means no limit.

    Counted in the database (one row per key and window), so every worker of every server draws
    from the same allowance; see docs/deploy.md for why a shared count and not per-worker buckets.
    """

    viewer: int = 300
    officer: int = 600
    admin: int = 1200
    window_seconds: int = 60

    def for_role(self, role: str) -> int:
        return int(getattr(self, role, 0)) if role in ("viewer", "officer", "admin") else 0


@dataclass(frozen=True)
class ApiConfig:
    """Where the served bundle and the key database live, and the per-call limits.

    A reload without a path re-reads ``model_dir``; ``max_batch`` caps ``firms`` per call and
    ``max_body_bytes`` the request body (16 MiB: 1,000 firms with 2,000-character descriptions
    sent as ``\\u`` escapes fit, a 50 MB body does not).
    """

    model_dir: Path
    database_url: str
    max_batch: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    # How often each worker checks the database for a reload made elsewhere.
    reload_poll_seconds: float = 1.0
    # Batch calls run on their own threads, at a lower CPU priority, so that a 1,000-firm batch
    # never queues in front of single recommendations; at most ``batch_queue`` batch calls per
    # worker are admitted (running or waiting), the next gets a 503 with Retry-After.
    batch_threads: int = 1
    batch_queue: int = 8
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # The workspace: where uploaded batch files and their results are kept (shared by the
    # workers of one machine), rows per chunk there (smaller than the CLI's, so the page's
    # progress moves), and how long a browser session lasts.
    batch_dir: Path = Path(tempfile.gettempdir()) / "parkmatch-batch"
    batch_chunk_rows: int = 500
    session_hours: float = 12.0
    # The audit log of what was served (api.audit): on or off, how many days rows are kept
    # (0: forever), and how often each worker writes its queued rows.
    audit: bool = True
    audit_retention_days: int = 365
    audit_flush_seconds: float = 0.5

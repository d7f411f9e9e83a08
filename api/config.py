"""The HTTP layer's own configuration: typed values handed in by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ApiConfig:
    """Where the served bundle and the key database live, and the per-call batch limit.

    A reload without a path re-reads ``model_dir``; ``max_batch`` caps ``firms`` per call.
    """

    model_dir: Path
    database_url: str
    max_batch: int = 1000

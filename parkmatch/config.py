"""The one settings class.

Read only in the composition root (:mod:`parkmatch.cli`, :mod:`parkmatch.app`) and turned into the
typed values each layer takes (paths, counts, :class:`api.config.ApiConfig`); no lower layer sees
it, so a library user never needs environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from api.config import ApiConfig, RateLimits
from training.config import TrainConfig


class Settings(BaseSettings):
    """Everything an operator may change, from ``PARKMATCH_*`` environment variables or ``.env``.

    Paths default to a ``var/`` folder under the working directory so that ``make run`` on a
    fresh checkout needs no configuration at all.
    """

    model_config = SettingsConfigDict(env_prefix="PARKMATCH_", env_file=".env", extra="ignore")

    home: Path = Path("var")
    model_dir: Path | None = None
    world_dir: Path | None = None
    database_url: str | None = None
    catalogue_path: Path | None = None

    # Default simulated world that the bundled model is trained on.
    world_firms: int = 700_000
    world_seed: int = 20140226  # 2014-02-26: the day the coordinated-development strategy was announced

    # Matching.
    index_type: Literal["flat", "ivf", "hnsw"] = "flat"
    candidates: int = 60

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    bootstrap_admin_org: str = "default"
    # Requests per key per window, by role (0: no limit); counted across every worker.
    rate_limit_viewer: int = 300
    rate_limit_officer: int = 600
    rate_limit_admin: int = 1200
    rate_limit_window_seconds: int = 60
    # Per worker: threads for batch calls, and how many batch calls may run or wait at once.
    batch_threads: int = 1
    batch_queue: int = 8
    # The audit log of served results, and how many days its rows are kept (0: forever).
    audit: bool = True
    audit_retention_days: int = 365

    # Batch matching.
    chunk_rows: int = 20_000
    # FAISS index type of `parkmatch index-firms` (ivf or hnsw; see matcher.leads.FirmIndex)
    firm_index_type: Literal["ivf", "hnsw"] = "ivf"

    def resolved_model_dir(self) -> Path:
        return self.model_dir or self.home / "model"

    def resolved_world_dir(self) -> Path:
        return self.world_dir or self.home / "world"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'parkmatch.db').as_posix()}"

    def train_config(self, world_dir: Path | None = None, out: Path | None = None) -> TrainConfig:
        """The default training recipe, into ``out`` from ``world_dir`` (the configured ones if not given)."""
        return TrainConfig(
            world_dir=world_dir or self.resolved_world_dir(),
            out=out or self.resolved_model_dir(),
            n_firms=self.world_firms,
            seed=self.world_seed,
            candidates=self.candidates,
            index_type=self.index_type,
            catalogue=self.catalogue_path,
        )

    def api_config(self) -> ApiConfig:
        """What the HTTP layer needs, and nothing else."""
        return ApiConfig(
            model_dir=self.resolved_model_dir(),
            database_url=self.resolved_database_url(),
            max_batch=self.max_batch,
            max_body_bytes=self.max_body_bytes,
            batch_threads=self.batch_threads,
            batch_queue=self.batch_queue,
            rate_limits=RateLimits(
                viewer=self.rate_limit_viewer,
                officer=self.rate_limit_officer,
                admin=self.rate_limit_admin,
                window_seconds=self.rate_limit_window_seconds,
            ),
            batch_dir=self.home / "batch",
            audit=self.audit,
            audit_retention_days=self.audit_retention_days,
        )

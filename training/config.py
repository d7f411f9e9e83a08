"""What one training run needs, as typed values (kept apart so reading it loads no LightGBM)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainConfig:
    """Where the simulated world and the bundle live, and the recipe's few knobs."""

    world_dir: Path
    out: Path
    n_firms: int
    seed: int
    candidates: int = 60
    index_type: str = "flat"
    catalogue: Path | None = None
    relocations: Path | None = None  # documented cases to learn from; None: data/relocations.csv

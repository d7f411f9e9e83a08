"""The save(dir)/load(dir) protocol every learned stage follows, and its parameter file.

A stage's constructor parameters (public attributes without a trailing underscore) are written
to a small JSON file beside its learned state, so ``load`` rebuilds the stage exactly as it was
configured instead of from the class defaults.  Nothing here is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, Self


class Stage(Protocol):
    """A learned stage: ``fit`` returns self, learned state ends in ``_``, and it persists itself."""

    def save(self, directory: Path) -> list[Path]: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...


def init_params(stage: object) -> dict[str, Any]:
    """The constructor parameters, in scikit-learn's sense: public, no trailing underscore."""
    return {k: v for k, v in vars(stage).items() if not k.startswith("_") and not k.endswith("_")}


def write_params(stage: object, path: Path) -> Path:
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in init_params(stage).items()}
    path.write_text(json.dumps(params, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    return path


def read_params(path: Path, tuples: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parameters written by :func:`write_params`; ``tuples`` names those to turn back into tuples.
    A bundle written before a stage kept its parameters has no file: the defaults apply."""
    if not path.exists():
        return {}
    params: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for name in tuples:
        if name in params:
            params[name] = tuple(params[name])
    return params

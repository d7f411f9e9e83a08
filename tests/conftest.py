"""Shared fixtures: a small simulated world and a model bundle trained on it, once per session."""

from __future__ import annotations

import os
import platform
import sys

# OpenBLAS picks its kernels by CPU (SkylakeX on one machine, Cooperlake on another), and the
# fixtures' SVD, and with it every small model and pinned ranking below, follows in the last bits.
# The suite pins the AVX2 kernels every x86-64 machine since 2013 runs, so its figures are the
# same on each; set before NumPy loads, and inherited by every server and worker a test starts.
if platform.machine() in ("x86_64", "AMD64") and "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

from pathlib import Path

import pytest

from features.reference import load_parks
from matcher.core import Matcher
from training.relocations import load_relocations
from training.synth import World, simulate, write_world
from training.train import train_matcher

SMALL_WORLD_FIRMS = 60_000
SMALL_WORLD_SEED = 7


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    world = simulate(SMALL_WORLD_FIRMS, SMALL_WORLD_SEED)
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(world, out)
    return world, out


@pytest.fixture(scope="session")
def bundle_path(small_world: tuple[World, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    world, _ = small_world
    matcher, report = train_matcher(
        world.firms,
        world.events,
        load_parks(),
        ranker_params={"n_estimators": 120},
        progress=lambda _m: None,
        cases=load_relocations(),
    )
    path = tmp_path_factory.mktemp("model") / "bundle"
    matcher.save(path, {"model_version": "test-small", "metrics": report, "candidates": matcher.candidates})
    return path


@pytest.fixture(scope="session")
def matcher(bundle_path: Path) -> Matcher:
    return Matcher.load(bundle_path)

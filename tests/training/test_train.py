"""The training entry points around the world: a world of another simulator version is rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

from training.synth import VERSION, simulate, write_world
from training.train import ensure_world


def test_a_world_of_an_older_simulator_version_is_regenerated(tmp_path: Path) -> None:
    world = tmp_path / "world"
    write_world(simulate(500, 3), world)
    truth_file = world / "truth.json"
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    truth["version"] = "synth-0.9"
    truth_file.write_text(json.dumps(truth), encoding="utf-8")
    ensure_world(world, 800, 3)
    again = json.loads(truth_file.read_text(encoding="utf-8"))
    assert again["version"] == VERSION and again["n_firms"] == 800
    before = truth_file.stat().st_mtime_ns
    ensure_world(world, 900, 3)  # the current version is kept as it is
    assert truth_file.stat().st_mtime_ns == before

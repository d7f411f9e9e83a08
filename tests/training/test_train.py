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


def test_a_world_generated_over_another_catalogue_is_regenerated(tmp_path: Path) -> None:
    from features import schemas as S
    from features.reference import load_parks

    parks = load_parks()
    world = tmp_path / "world"
    write_world(simulate(500, 3, parks), world)
    before = (world / "truth.json").stat().st_mtime_ns
    ensure_world(world, 600, 3, parks=parks)
    assert (world / "truth.json").stat().st_mtime_ns == before  # the same catalogue: kept
    moved = parks.copy()
    moved.loc[0, S.LAT] = float(moved.loc[0, S.LAT]) + 0.05  # one park gets its own point
    ensure_world(world, 600, 3, parks=moved)
    truth = json.loads((world / "truth.json").read_text(encoding="utf-8"))
    assert truth["n_firms"] == 600


def test_a_world_estimated_on_other_documented_cases_is_regenerated(tmp_path: Path) -> None:
    from features.reference import load_parks
    from training.choice import cases_fingerprint, estimated_choice
    from training.relocations import load_relocations

    parks, cases = load_parks(), load_relocations()
    fewer = cases.iloc[:-4].reset_index(drop=True)  # the corpus before its last four cases
    world = tmp_path / "world"
    write_world(simulate(500, 3, parks, choice=estimated_choice(fewer, parks)), world)
    before = (world / "truth.json").stat().st_mtime_ns
    ensure_world(world, 600, 3, cases=fewer, parks=parks)
    assert (world / "truth.json").stat().st_mtime_ns == before  # the same cases: kept
    ensure_world(world, 600, 3, cases=cases, parks=parks)
    truth = json.loads((world / "truth.json").read_text(encoding="utf-8"))
    assert truth["n_firms"] == 600
    assert truth["choice_estimates"]["cases_fingerprint"] == cases_fingerprint(cases)

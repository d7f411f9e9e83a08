"""The layer rules of ``docs/architecture.md``, checked on the AST of every product module.

Data flows one way: ``features`` → ``matcher`` → ``api`` / ``training``; ``benchmarks`` measures
them all and nothing imports it; ``parkmatch`` is the composition root and the only package that
may import every layer.  The table below is the same as the one in the architecture document,
and a test checks that too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("data", "features", "matcher", "api", "training", "benchmarks", "parkmatch")

# package -> the project packages it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "data": frozenset({"features", "matcher", "api", "training", "benchmarks", "parkmatch"}),
    "features": frozenset({"matcher", "api", "training", "benchmarks", "parkmatch"}),
    "matcher": frozenset({"api", "training", "benchmarks", "parkmatch"}),
    "api": frozenset({"training", "benchmarks", "parkmatch"}),
    "training": frozenset({"api", "benchmarks", "parkmatch"}),
    "benchmarks": frozenset({"parkmatch"}),
    "parkmatch": frozenset(),
}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages a module imports, lazily inside functions included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py") if "staging" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_respects_the_layer_rules(path: Path) -> None:
    layer = path.relative_to(ROOT).parts[0]
    bad = imported_packages(path) & FORBIDDEN[layer]
    assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports {sorted(bad)}"


def test_only_the_composition_root_imports_every_layer() -> None:
    everything = {"features", "matcher", "api", "training"}
    wide = {str(p.relative_to(ROOT)) for p in modules() if everything <= imported_packages(p)}
    assert wide and all(p.startswith("parkmatch/") for p in wide), wide


def test_the_architecture_document_states_the_same_rules() -> None:
    """Each row of the document's table is ``| package | must not import |``."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)/` \| ([^|]*) \|", text, flags=re.M))
    documented = {pkg: frozenset(re.findall(r"`(\w+)`", cell)) for pkg, cell in rows.items()}
    assert documented == FORBIDDEN

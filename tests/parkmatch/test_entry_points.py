"""The composition root is the command: ``python -m parkmatch`` and the console script agree."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata


def test_python_dash_m_parkmatch_lists_the_catalogue() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "parkmatch", "parks", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    parks = json.loads(out.stdout)
    assert len(parks) > 100 and {"park_id", "name"} <= set(parks[0])


def test_the_console_script_points_at_the_composition_root() -> None:
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts["parkmatch"] == "parkmatch.cli:main"

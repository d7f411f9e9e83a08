"""One versioned model bundle: every learned stage, the catalogue it was trained on, a manifest.

Loading checks the manifest before anything else: every file present, every SHA-256 equal, the
feature names equal to what this code computes.  A bundle that fails any check is refused as a
whole, so a half-copied or stale model can never serve.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from features import schemas as S

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# The catalogue and the imputation priors the bundle was trained with; each learned stage names
# its own files in its ``save(dir)``.
PARKS_FILE = "parks.parquet"
PRIORS_FILE = "priors.parquet"


class BundleError(ValueError):
    """The model bundle cannot be used; the message says which file or check failed."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("parkmatch", "lightgbm", "faiss-cpu", "scikit-learn", "numpy", "pandas", "pyarrow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def write_bundle(target: Path, write_files: Callable[[Path], list[Path]], manifest: dict[str, Any]) -> Path:
    """Write into a temporary sibling, add the manifest with checksums, then swap it in.

    A crash at any point leaves the previous bundle untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        files = write_files(tmp)
        manifest = {
            **manifest,
            "format_version": FORMAT_VERSION,
            "libraries": library_versions(),
            "files": {p.name: sha256(p) for p in sorted(files, key=lambda p: p.name)},
        }
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
        )
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_catalogue(path: Path) -> pd.DataFrame:
    """The catalogue a bundle was trained with, list columns as lists of strings."""
    parks = pd.read_parquet(Path(path) / PARKS_FILE)
    for col in S.PARK_LIST_COLUMNS:
        parks[col] = parks[col].map(lambda v: [] if v is None else [str(x) for x in v])
    return parks


def read_manifest(path: Path, expected_features: tuple[str, ...]) -> dict[str, Any]:
    """Validate a bundle directory and return its manifest, or raise :class:`BundleError`."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"model bundle {path} does not exist (run `parkmatch train`)")
    mpath = path / MANIFEST
    if not mpath.exists():
        raise BundleError(f"model bundle {path} has no {MANIFEST}")
    try:
        manifest: dict[str, Any] = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON: {exc}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{mpath}: format_version {manifest.get('format_version')!r}, "
            f"this parkmatch reads {FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{mpath} lists no files")
    for name, digest in files.items():
        fpath = path / name
        if not fpath.exists():
            raise BundleError(f"model bundle {path} is missing {name}")
        actual = sha256(fpath)
        if actual != digest:
            raise BundleError(
                f"model bundle {path}: checksum mismatch for {name} "
                f"(manifest {digest[:12]}…, file {actual[:12]}…)"
            )
    names = tuple(manifest.get("feature_names", ()))
    if names != expected_features:
        missing = sorted(set(expected_features) - set(names))
        extra = sorted(set(names) - set(expected_features))
        raise BundleError(
            f"model bundle {path} was trained on other features than this code computes "
            f"(missing {missing or 'none'}, unexpected {extra or 'none'}, "
            f"order {'differs' if not missing and not extra else 'n/a'}); retrain it"
        )
    return manifest

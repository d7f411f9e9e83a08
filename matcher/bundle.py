"""One versioned model bundle: every learned stage, the catalogue it was trained on, a manifest.

Loading checks the manifest before anything else: every file present, every SHA-256 equal, the
feature names equal to what this code computes.  A bundle that fails any check is refused as a
whole, so a half-copied or stale model can never serve.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
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


# Every file a format-1 bundle needs, per stage.  The manifest's checksums only prove that the
# files it lists are intact; this list is what proves that none was dropped together with its
# manifest entry (a bundle without its tower files fails every request on a FAISS dimension
# assert, one without its history silently serves a different model under the same version).
REQUIRED_FILES: dict[int, dict[str, tuple[str, ...]]] = {
    1: {
        "embedder": (
            "embedder.json",
            "text_tfidf.json",
            "text_svd.npy",
            "text_params.json",
            "industry_vectors.npy",
            "industry_codes.json",
            "industry_params.json",
        ),
        "inferer": (
            "inferer_tfidf.json",
            "inferer_centroids.npz",
            "inferer_classes.json",
            "inferer_params.json",
        ),
        "ranker": ("ranker.txt", "ranker.json"),
        "tower": ("tower.json", "tower_weights.npy", "tower_bias.npy"),
        "history": ("history.json", "history_counts.npy"),
        "index": ("parks.faiss", "index.json"),
        "catalogue": (PARKS_FILE, PRIORS_FILE),
    }
}
# How long the child process that test-loads a candidate bundle may take.
VERIFY_TIMEOUT_SECONDS = 180.0
# Known firms every candidate bundle must rank before it may serve: a code-only profile, a
# text-only one and one with hard constraints (port, pollution).
SMOKE_FIRMS: tuple[dict[str, Any], ...] = (
    {"name": "北京某制药有限公司", "industry_code": "2710", "employees": 300},
    {"name": "北京某软件公司", "description": "软件开发、信息技术咨询服务、数据处理"},
    {"name": "北京某化工公司", "industry_code": "2614", "pollution_level": "high", "needs_port": True},
)


class BundleError(ValueError):
    """The model bundle cannot be used; the message says which file or check failed."""


def required_files(format_version: int = FORMAT_VERSION) -> frozenset[str]:
    """The files every bundle of ``format_version`` must contain, whatever its manifest lists."""
    return frozenset(name for stage in REQUIRED_FILES[format_version].values() for name in stage)


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


def write_bundle(
    target: Path,
    write_files: Callable[[Path], list[Path]],
    manifest: dict[str, Any],
    required: frozenset[str] | None = None,
) -> Path:
    """Write into a temporary sibling, add the manifest with checksums, then swap it in.

    A crash at any point leaves the previous bundle untouched.  ``required`` names the files
    every directory of its kind must hold (a model bundle's by default; a firm index has its own).
    """
    required = required_files() if required is None else required
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
            # Everything written is required: an optional stage (precedents) that was trained
            # must not vanish from a copy without the loader noticing.
            "required_files": sorted({p.name for p in files} | required),
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


def _check_checksums(path: Path, files: dict[str, str]) -> None:
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


def check_files(path: Path) -> dict[str, Any]:
    """The manifest of a directory written by :func:`write_bundle` (of any kind), after every
    file it lists, and every file it requires, has been checked; :class:`BundleError` otherwise."""
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.exists():
        raise BundleError(f"{path} has no {MANIFEST}")
    try:
        manifest: dict[str, Any] = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON: {exc}") from exc
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{mpath} lists no files")
    unlisted = sorted(set(manifest.get("required_files", [])) - set(files))
    if unlisted:
        raise BundleError(f"{path} is incomplete: {MANIFEST} does not list {', '.join(unlisted)}")
    _check_checksums(path, files)
    return manifest


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
    declared = manifest.get("required_files", [])
    if not isinstance(declared, list) or not all(isinstance(n, str) for n in declared):
        raise BundleError(f"{mpath}: required_files must be a list of file names")
    unlisted = sorted((required_files() | set(declared)) - set(files))
    if unlisted:
        raise BundleError(
            f"model bundle {path} is incomplete: format_version {FORMAT_VERSION} requires "
            f"{', '.join(unlisted)}, which {MANIFEST} does not list"
        )
    _check_checksums(path, files)
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


def verify_in_child(path: Path, timeout: float = VERIFY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Load ``path`` and rank :data:`SMOKE_FIRMS` in a child process; raise :class:`BundleError`
    if that fails in any way, including the child dying on a signal.

    Why a child: LightGBM's C++ parser aborts the whole process (SIGABRT, "terminate called
    without an active exception") or segfaults on some malformed model texts whose checksums
    were re-forged, and no in-process ``try`` can catch that.  Only a bundle that a separate
    process loaded and used is handed to the serving process.  Returns what the child reported:
    ``model_version``, ``manifest_sha256`` (so the caller can check it loads the same bundle)
    and ``smoke_firms``.
    """
    path = Path(path)
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
        "OMP_NUM_THREADS": "1",
    }
    code = "import sys; from matcher.bundle import _verify_main; raise SystemExit(_verify_main(sys.argv[1]))"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BundleError(f"model bundle {path}: test-loading it took more than {timeout:.0f}s") from None
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    report: dict[str, Any] = {}
    try:
        report = json.loads(last) if last else {}
    except json.JSONDecodeError:
        report = {}
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        lines = proc.stderr.splitlines()
        fatal = [ln for ln in lines if "[Fatal]" in ln] or [ln for ln in lines if "terminate" in ln]
        detail = f" ({fatal[0].strip()})" if fatal else ""
        raise BundleError(
            f"model bundle {path} crashed the process that test-loaded it with {sig}{detail}; "
            "a stage file is malformed even though its checksum matches"
        )
    if proc.returncode != 0 or not report.get("ok"):
        reason = report.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(str(reason))
    return report


def _verify_main(path_arg: str) -> int:
    """The child's side of :func:`verify_in_child`: one JSON line on stdout, exit 0 or 1."""
    import math

    from matcher.core import Matcher

    path = Path(path_arg)
    try:
        matcher = Matcher.load(path)
        results, errors = matcher.recommend_records([dict(f) for f in SMOKE_FIRMS], 5, False)
        if errors or len(results) != len(SMOKE_FIRMS):
            raise BundleError(f"model bundle {path}: the smoke firms were rejected: {errors}")
        for firm, res in zip(SMOKE_FIRMS, results, strict=True):
            recs = res.get("recommendations") or []
            if not recs and not res.get("no_match"):
                raise BundleError(
                    f"model bundle {path}: no parks and no reason for smoke firm {firm['name']}"
                )
            if not all(math.isfinite(float(r["score"])) for r in recs):
                raise BundleError(f"model bundle {path}: non-finite scores for smoke firm {firm['name']}")
    except Exception as exc:
        message = str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}"
        print(json.dumps({"ok": False, "error": message}, ensure_ascii=False), flush=True)
        return 1
    report = {
        "ok": True,
        "model_version": matcher.model_version,
        "manifest_sha256": sha256(path / MANIFEST),
        "smoke_firms": len(SMOKE_FIRMS),
    }
    print(json.dumps(report, ensure_ascii=False), flush=True)
    return 0


def release_memory() -> None:
    """Collect, then hand freed heap pages back to the kernel (glibc keeps them otherwise), so
    a process that swaps models does not grow by one model per reload."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

"""The ranker's trees compiled to machine code (lleaves, LLVM), with LightGBM as the reference.

LightGBM walks its trees through a generic interpreter: about 0.4 ms for a 90-row request and
150k rows/s per core in batch.  lleaves compiles LightGBM's own text model into straight-line
code that returns the same raw scores, several times faster.

Two programs are compiled from one model text:

- the **scorer**, the model itself (raw scores, as ``Booster.predict`` returns for LambdaRank);
- the **leaf finder**, the same trees with each leaf's value replaced by its leaf index shifted
  into a bit field, packed ``52 // bits`` trees to an output of a multi-output model.  Sums of
  distinct powers of two are exact in float64, so decoding the outputs gives exactly the leaf
  every row reaches in every tree, as ``Booster.predict(pred_leaf=True)`` does, at the cost of
  one prediction.  The reasons' contributions are read from those leaves
  (:meth:`matcher.ranker.ParkRanker.contributions`).

The compiled objects are cached beside the bundle, in ``<bundle>.compiled/``, keyed by the
SHA-256 of the model text, the lleaves and llvmlite versions and the CPU.  The cache is derived
data, not trusted input: a cached object is used only if its own checksum matches the one recorded
when it was written, and only once both programs reproduce LightGBM's scores and leaves on a probe
set drawn from the model's own thresholds.  Anything else is recompiled.  When compiling is not
possible at all, :func:`compile_forest` returns ``None`` and the ranker keeps LightGBM, which
gives the same scores; the reason is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CACHE_SUFFIX = ".compiled"
META_FILE = "compiled.json"
PROBE_ROWS = 512
SCORE_TOLERANCE = 1e-9
MANTISSA_BITS = 52
# Rows are scored in blocks: the float64 copy of a block stays in cache while the trees read it,
# and a large batch never holds a float64 copy of all its rows.
BLOCK_ROWS = 16_384
ROWS_PER_THREAD = 2_048
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold, a float


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    return _sha256_bytes(path.read_bytes())


def _host() -> dict[str, str]:
    import lleaves
    import llvmlite
    import llvmlite.binding as llvm

    return {
        "lleaves": getattr(lleaves, "__version__", "unknown"),
        "llvmlite": llvmlite.__version__,
        "cpu": llvm.get_host_cpu_name(),
        "cpu_features": llvm.get_host_cpu_features().flatten(),
    }


# --- the leaf finder's model text --------------------------------------------------------------


def _split_model(text: str) -> tuple[list[str], list[list[str]]]:
    """Header lines and one list of lines per tree of a LightGBM text model."""
    header, rest = text.split("\nTree=", 1)
    body = rest.split("\nend of trees", 1)[0]
    trees = [("Tree=" + block).strip().splitlines() for block in body.split("\nTree=")]
    return header.strip().splitlines(), trees


def leaf_bits(max_leaves: int) -> int:
    """Bits that hold a leaf index (0 … max_leaves - 1)."""
    return max(1, int(max_leaves - 1).bit_length())


def _replace_keys(lines: list[str], values: dict[str, str]) -> list[str]:
    """``key=value`` lines with the given keys' values replaced."""
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        out.append(f"{key}={values[key]}" if "=" in line and key in values else line)
    return out


def leaf_finder_text(text: str) -> tuple[str, int, int]:
    """The leaf finder's model text for a single-output model, its number of outputs and the
    number of trees packed into each output.

    Tree ``t`` becomes tree ``t`` of the new model, so it lands in output ``t % outputs`` and bit
    field ``t // outputs``; its leaf ``l`` is worth ``l * 2**(bits * (t // outputs))``.  The tree
    count is padded to a multiple of the outputs with copies of tree 0 whose leaves are all 0."""
    header, trees = _split_model(text)
    n_leaves = [int(next(x for x in tree if x.startswith("num_leaves=")).split("=")[1]) for tree in trees]
    bits = leaf_bits(max(n_leaves))
    per = MANTISSA_BITS // bits
    outputs = max(1, -(-len(trees) // per))
    total = outputs * (-(-len(trees) // outputs))
    out = _replace_keys(
        header,
        {
            "num_class": str(outputs),
            "num_tree_per_iteration": str(outputs),
            "objective": f"multiclass num_class:{outputs}",
            # lleaves counts the trees here; the sizes go unread
            "tree_sizes": " ".join(["0"] * total),
        },
    )
    out.append("")
    for t in range(total):
        src, n, zero = (trees[t], n_leaves[t], False) if t < len(trees) else (trees[0], n_leaves[0], True)
        scale = float(2 ** (bits * (t // outputs)))
        values = " ".join("0" if zero else repr(float(i) * scale) for i in range(n))
        out.extend(_replace_keys(src, {"Tree": str(t), "leaf_value": values, "shrinkage": "1"}))
        out.append("")
    out.extend(["end of trees", "", "pandas_categorical:null", ""])
    return "\n".join(out), outputs, len(trees)


def decode_leaves(packed: np.ndarray, outputs: int, n_trees: int, bits: int) -> np.ndarray:
    """(rows, n_trees) leaf indices from the leaf finder's (rows, outputs) sums."""
    v = np.asarray(packed).reshape(-1, outputs).astype(np.int64)
    mask = (1 << bits) - 1
    per = -(-n_trees // outputs)
    shifts = (bits * np.arange(per, dtype=np.int64))[:, None]
    # (rows, per, outputs): field s of output c is tree s * outputs + c
    fields = (v[:, None, :] >> shifts[None, :, :]) & mask
    return fields.reshape(v.shape[0], per * outputs)[:, :n_trees]


# --- probe rows --------------------------------------------------------------------------------


def probe_rows(text: str, n_features: int, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that exercise both sides of the model's thresholds, its categories and missing values:
    every value is a threshold of that feature, just above or below one, a category the model
    names, or NaN."""
    rng = np.random.default_rng(seed)
    values: list[list[float]] = [[0.0, 1.0] for _ in range(n_features)]
    _, trees = _split_model(text)
    for tree in trees:
        fields = dict(line.split("=", 1) for line in tree if "=" in line)
        if not fields.get("split_feature"):
            continue
        feats = [int(v) for v in fields["split_feature"].split()]
        thresholds = fields["threshold"].split()
        kinds = [int(v) for v in fields["decision_type"].split()]
        for f, th, kind in zip(feats, thresholds, kinds, strict=True):
            if kind & 1:  # categorical split: the threshold indexes a category bitset
                values[f].extend(float(c) for c in range(12))
            else:
                v = float(th)
                values[f].extend((v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf), v - 1, v + 1))
    x = np.empty((rows, n_features), dtype=np.float64)
    for f in range(n_features):
        pool = np.unique(np.asarray(values[f]))
        x[:, f] = rng.choice(pool, size=rows)
    x[rng.random((rows, n_features)) < 0.1] = np.nan
    return x


def _n_features(text: str) -> int:
    match = re.search(r"^max_feature_idx=(\d+)", text, flags=re.MULTILINE)
    if match is None:
        raise ValueError("the model text has no max_feature_idx")
    return int(match.group(1)) + 1


# --- compiling and the cache -------------------------------------------------------------------


class CompiledForest:
    """The scorer and the leaf finder of one model text, compiled and checked against LightGBM."""

    def __init__(self, scorer: Any, finder: Any, outputs: int, n_trees: int, bits: int, source: str):
        self.scorer = scorer
        self.finder = finder
        self.outputs = outputs
        self.n_trees = n_trees
        self.bits = bits
        self.source = source  # "compiled" or "cache": where the machine code came from

    def predict(self, x: np.ndarray, threads: int) -> np.ndarray:
        out = np.empty(x.shape[0], dtype=np.float64)
        for start in range(0, x.shape[0], BLOCK_ROWS):
            block = _as_lightgbm_reads(x[start : start + BLOCK_ROWS])
            out[start : start + block.shape[0]] = self.scorer.predict(block, n_jobs=_jobs(block, threads))
        return out

    def leaves(self, x: np.ndarray, threads: int) -> np.ndarray:
        out = np.empty((x.shape[0], self.n_trees), dtype=np.int64)
        for start in range(0, x.shape[0], BLOCK_ROWS):
            block = _as_lightgbm_reads(x[start : start + BLOCK_ROWS])
            packed = self.finder.predict(block, n_jobs=_jobs(block, threads))
            out[start : start + block.shape[0]] = decode_leaves(packed, self.outputs, self.n_trees, self.bits)
        return out


def _jobs(block: np.ndarray, threads: int) -> int:
    """Threads for one block: a thread for fewer rows than :data:`ROWS_PER_THREAD` costs more to
    start than it saves."""
    return max(1, min(threads, block.shape[0] // ROWS_PER_THREAD))


def _as_lightgbm_reads(x: np.ndarray) -> np.ndarray:
    """The rows as LightGBM's predictor reads them: float64, and any value within
    :data:`ZERO_THRESHOLD` of zero taken as 0 (LightGBM drops such values from a row, so they reach
    the trees as zeros); NaN stays NaN."""
    out = np.ascontiguousarray(x, dtype=np.float64)
    # Tested on the contiguous copy, not on ``x``: the features arrive as a transposed view, and
    # a mask in that layout makes both the test and the write stride across memory.  Exact zeros
    # (most sparse features) need no write, so only the rare tiny non-zeros are counted.
    magnitude = np.abs(out)
    tiny = (magnitude <= ZERO_THRESHOLD) & (magnitude > 0.0)
    if tiny.any():
        if out is x:
            out = out.copy()
        np.copyto(out, 0.0, where=tiny)
    return out


def _compile_one(model_text: str, obj: Path | None, inline: bool = True) -> Any:
    """Compile (or, when ``obj`` exists, load) one lleaves model; ``obj=None`` stays in memory.
    ``inline=False`` compiles about four times faster for a few per cent slower code: right for
    the leaf finder, which only sees the rows shown."""
    import lleaves

    with tempfile.TemporaryDirectory(prefix="parkmatch-lleaves-") as d:
        src = Path(d) / "model.txt"
        src.write_text(model_text, encoding="utf-8")
        model = lleaves.Model(model_file=str(src))
        model.compile(cache=None if obj is None else str(obj), raw_score=True, finline=inline)
    return model


def _matches(forest: CompiledForest, booster: Any, probe: np.ndarray) -> bool:
    want = np.asarray(booster.predict(probe, raw_score=True, num_threads=1), dtype=np.float64)
    got = forest.predict(probe, 1)
    if got.shape != want.shape or not np.all(np.abs(got - want) <= SCORE_TOLERANCE):
        return False
    want_leaves = np.asarray(booster.predict(probe, pred_leaf=True, num_threads=1), dtype=np.int64)
    return bool(np.array_equal(forest.leaves(probe, 1), want_leaves.reshape(probe.shape[0], -1)))


def cache_dir_for(bundle: Path) -> Path:
    """Where a bundle's compiled trees are kept: beside it, never inside (the bundle's manifest
    lists every file it holds)."""
    bundle = Path(bundle)
    return bundle.parent / (bundle.name + CACHE_SUFFIX)


def _key(model_sha: str, host: dict[str, str]) -> str:
    return _sha256_bytes(json.dumps({"model": model_sha, **host}, sort_keys=True).encode())[:24]


def _load_cached(slot: Path, model_sha: str, host: dict[str, str]) -> dict[str, Any] | None:
    meta_path = slot / META_FILE
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model_sha256") != model_sha or meta.get("host") != host:
            return None
        for name in ("scorer", "finder"):
            if _sha256_file(slot / f"{name}.o") != meta[f"{name}_sha256"]:
                return None
        return dict(meta)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compile_forest(model_text: str, booster: Any, cache: Path | None) -> CompiledForest | None:
    """The compiled trees of ``model_text``, from ``cache`` when a verified copy is there, else
    freshly compiled (and written to ``cache`` when it is writable).  ``None`` if lleaves is not
    installed or compiling fails; the caller keeps LightGBM."""
    try:
        host = _host()
    except ImportError as exc:
        log.warning("compiled ranker unavailable (%s); scoring with LightGBM", exc)
        return None
    model_sha = _sha256_bytes(model_text.encode("utf-8"))
    try:
        finder_text, outputs, n_trees = leaf_finder_text(model_text)
        bits = leaf_bits(max(int(v) for v in re.findall(r"^num_leaves=(\d+)", model_text, re.MULTILINE)))
        probe = probe_rows(model_text, _n_features(model_text))
    except (ValueError, StopIteration) as exc:
        log.warning("compiled ranker unavailable: the model text cannot be read (%s)", exc)
        return None
    slot = None if cache is None else Path(cache) / _key(model_sha, host)
    if slot is not None and _load_cached(slot, model_sha, host) is not None:
        try:
            forest = CompiledForest(
                _compile_one(model_text, slot / "scorer.o"),
                _compile_one(finder_text, slot / "finder.o", inline=False),
                outputs,
                n_trees,
                bits,
                "cache",
            )
            if _matches(forest, booster, probe):
                return forest
        except Exception as exc:  # a corrupt object file: recompile below
            log.warning("compiled ranker cache %s unusable (%s); recompiling", slot, exc)
        log.warning("compiled ranker cache %s does not reproduce LightGBM; recompiling", slot)
    try:
        forest = _compile_fresh(model_text, finder_text, outputs, n_trees, bits, slot, model_sha, host)
    except Exception as exc:
        log.warning("compiling the ranker failed (%s: %s); scoring with LightGBM", type(exc).__name__, exc)
        return None
    if not _matches(forest, booster, probe):
        log.warning("the compiled ranker does not reproduce LightGBM's scores; scoring with LightGBM")
        return None
    return forest


def _compile_fresh(
    model_text: str,
    finder_text: str,
    outputs: int,
    n_trees: int,
    bits: int,
    slot: Path | None,
    model_sha: str,
    host: dict[str, str],
) -> CompiledForest:
    """Compile both programs; write them to ``slot`` atomically (a temporary directory renamed
    into place) when possible, otherwise keep them in memory."""
    tmp: Path | None = None
    if slot is not None:
        try:
            slot.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=slot.parent))
        except OSError as exc:
            log.info("compiled ranker cache %s not writable (%s); compiling in memory", slot.parent, exc)
            tmp = None
    scorer = _compile_one(model_text, None if tmp is None else tmp / "scorer.o")
    finder = _compile_one(finder_text, None if tmp is None else tmp / "finder.o", inline=False)
    if tmp is not None and slot is not None:
        meta = {
            "model_sha256": model_sha,
            "host": host,
            "scorer_sha256": _sha256_file(tmp / "scorer.o"),
            "finder_sha256": _sha256_file(tmp / "finder.o"),
            "outputs": outputs,
            "n_trees": n_trees,
            "bits": bits,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            if slot.exists():
                _remove_tree(slot)
            os.replace(tmp, slot)
        except OSError:  # another process put its copy in place first: ours is equal, drop it
            _remove_tree(tmp)
    return CompiledForest(scorer, finder, outputs, n_trees, bits, "compiled")


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        with contextlib.suppress(OSError):
            child.unlink()
    with contextlib.suppress(OSError):
        path.rmdir()

"""The LightGBM LambdaRank stage and the contributions that explain its scores.

Contributions are LightGBM's tree-path attributions, read from the booster's own model dump:
at every split a row passes, the change in the node value is credited to the split's feature,
so a row's contributions plus the bias add up exactly to its raw score (as with
``pred_contrib``).  Precomputed per leaf and per criterion they cost one ``pred_leaf`` call and a
table lookup, where TreeSHAP (``pred_contrib``) costs about a hundred times the prediction
itself, too much for explaining a million-firm batch.

A ranker loaded from a bundle scores with the compiled trees of :mod:`matcher.compiled` (same
scores, several times faster) and reads its leaves from the compiled leaf finder; a ranker just
fitted, or one whose trees could not be compiled, uses LightGBM itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from matcher.compiled import CompiledForest, cache_dir_for, compile_forest

SMALL_INPUT_ROWS = 4096
# Up to this many rows, contributions are gathered from the table directly (see contributions).
GATHER_CONTRIB_MAX_ROWS = 64
# Contributions are computed this many rows at a time (see contributions).
CONTRIB_BLOCK_ROWS = 4096


class ParkRanker:
    """``LGBMRanker`` (lambdarank) over pair features with monotone and categorical hints."""

    def __init__(
        self,
        feature_names: tuple[str, ...] = (),
        groups: dict[str, str] | None = None,
        monotone: dict[str, int] | None = None,
        categorical: tuple[str, ...] = (),
        n_estimators: int = 400,
        learning_rate: float = 0.08,
        num_leaves: int = 31,
        max_depth: int = 7,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.9,
        early_stopping_rounds: int = 30,
        num_threads: int = 0,
        seed: int = 0,
    ):
        self.feature_names = feature_names
        self.groups = groups or {}
        self.monotone = monotone or {}
        self.categorical = categorical
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.seed = seed

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [5, 10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree,
            "monotone_constraints": [self.monotone.get(f, 0) for f in self.feature_names],
            "monotone_constraints_method": "advanced",
            "lambdarank_truncation_level": 20,
            "max_bin": 127,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        group: np.ndarray,
        eval_set: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        log_every: int = 0,
        weight: np.ndarray | None = None,
    ) -> ParkRanker:
        """``weight`` is per row and constant within a group: LambdaRank scales each row's
        gradient by it, so documented cases can count for more than simulated ones."""
        cat = [self.feature_names.index(c) for c in self.categorical]
        train = lgb.Dataset(
            x,
            y,
            group=group,
            weight=weight,
            feature_name=list(self.feature_names),
            categorical_feature=cat,
            free_raw_data=True,
        )
        valid_sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., Any]] = []
        if eval_set is not None:
            valid = lgb.Dataset(
                eval_set[0], eval_set[1], group=eval_set[2], reference=train, categorical_feature=cat
            )
            valid_sets = [valid]
            callbacks.append(
                lgb.early_stopping(self.early_stopping_rounds, first_metric_only=False, verbose=False)
            )
        if log_every:
            callbacks.append(lgb.log_evaluation(log_every))
        self.evals_result_: dict[str, Any] = {}
        callbacks.append(lgb.record_evaluation(self.evals_result_))
        self.booster_ = lgb.train(
            self._params(),
            train,
            num_boost_round=self.n_estimators,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        if self.booster_.best_iteration > 0:
            self.booster_ = lgb.Booster(
                model_str=self.booster_.model_to_string(num_iteration=self.booster_.best_iteration)
            )
        self.compiled_: CompiledForest | None = None
        self._build_contrib_tables()
        return self

    def compile(self, cache: Path | None) -> ParkRanker:
        """Score with compiled trees from now on (:func:`matcher.compiled.compile_forest`), cached
        in ``cache``; if they cannot be built, keep LightGBM (the reason is logged)."""
        self.compiled_ = compile_forest(self.booster_.model_to_string(), self.booster_, cache)
        return self

    @property
    def engine(self) -> str:
        """What scores: ``compiled`` (lleaves) or ``lightgbm``."""
        return "compiled" if getattr(self, "compiled_", None) is not None else "lightgbm"

    def _threads(self, rows: int, num_threads: int | None) -> int:
        """One thread for small inputs: waking an OpenMP team costs more than a 60-row request,
        and on a busy machine it waits for a core (0.2 ms becomes 16 ms)."""
        if num_threads is not None:
            return num_threads
        return 1 if rows < SMALL_INPUT_ROWS else self.num_threads

    def predict(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        threads = self._threads(x.shape[0], num_threads)
        compiled = getattr(self, "compiled_", None)
        if compiled is not None:
            return compiled.predict(x, threads or os.cpu_count() or 1)
        return np.asarray(self.booster_.predict(x, num_threads=threads), dtype=np.float64)

    def leaves(self, x: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """(rows, trees) leaf index of every row in every tree, as LightGBM's ``pred_leaf``."""
        threads = self._threads(x.shape[0], num_threads)
        compiled = getattr(self, "compiled_", None)
        if compiled is not None:
            return compiled.leaves(x, threads or os.cpu_count() or 1)
        leaves = self.booster_.predict(x, pred_leaf=True, num_threads=threads)
        return np.asarray(leaves, dtype=np.int64).reshape(x.shape[0], -1)

    # --- contributions --------------------------------------------------------------------

    def _build_contrib_tables(self) -> None:
        """Per tree and leaf: the summed path contributions of each criterion group."""
        dump = self.booster_.dump_model()
        group_names = sorted(set(self.groups.values())) or ["all"]
        self.contrib_groups_ = tuple(group_names)
        gpos = {g: i for i, g in enumerate(group_names)}
        feat_group = [gpos.get(self.groups.get(f, ""), 0) for f in self.feature_names]
        trees = dump["tree_info"]
        max_leaves = max(int(t["num_leaves"]) for t in trees) if trees else 1
        table = np.zeros((len(trees), max_leaves, len(group_names)), dtype=np.float64)
        bias = 0.0
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            if "leaf_value" in root:
                bias += float(root["leaf_value"])
                continue
            bias += float(root["internal_value"])
            stack: list[tuple[dict[str, Any], np.ndarray]] = [(root, np.zeros(len(group_names)))]
            while stack:
                node, acc = stack.pop()
                value = float(node["internal_value"])
                g = feat_group[int(node["split_feature"])]
                for child_key in ("left_child", "right_child"):
                    child = node[child_key]
                    child_value = float(
                        child["leaf_value"] if "leaf_value" in child else child["internal_value"]
                    )
                    step = acc.copy()
                    step[g] += child_value - value
                    if "leaf_value" in child:
                        table[t, int(child["leaf_index"])] = step
                    else:
                        stack.append((child, step))
        self.contrib_table_ = table
        self.contrib_bias_ = bias

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(rows, groups) contributions whose row sums plus ``contrib_bias_`` equal the score.

        Rows are taken :data:`CONTRIB_BLOCK_ROWS` at a time: a batch chunk's shown parks
        (200,000 rows for 20,000 firms) would otherwise hold their (rows, trees) leaves and a
        one-hot matrix of as many entries at once, about 2 GiB, and run several times slower out
        of cache.  Every row's sum is independent of the others, so blocks change no bit."""
        out = np.empty((x.shape[0], len(self.contrib_groups_)), dtype=np.float64)
        for start in range(0, x.shape[0], CONTRIB_BLOCK_ROWS):
            block = x[start : start + CONTRIB_BLOCK_ROWS]
            out[start : start + block.shape[0]] = self._contributions(block)
        return out

    def _contributions(self, x: np.ndarray) -> np.ndarray:
        leaves = self.leaves(x)
        table = self.contrib_table_
        rows, trees = leaves.shape
        if rows <= GATHER_CONTRIB_MAX_ROWS:
            # a request's few shown parks: gather each tree's row and sum over the trees, in
            # tree order as the sparse product below sums them (the same bits, without the cost
            # of building a sparse matrix)
            # (one take on the flattened table: a third faster than indexing with two arrays)
            flat = leaves + np.arange(trees, dtype=np.int64) * table.shape[1]
            rows_of = table.reshape(-1, table.shape[2]).take(flat.ravel(), axis=0)
            return np.add.reduce(rows_of.reshape(rows, trees, table.shape[2]), axis=1)
        # one row's contributions are the sum of one table row per tree: a sparse one-hot (rows,
        # trees × leaves) matrix times the (trees × leaves, groups) table, summed tree by tree
        # in C, without a (rows, trees, groups) temporary
        cols = (leaves + np.arange(trees, dtype=np.int64) * table.shape[1]).ravel()
        onehot = sp.csr_matrix(
            (np.ones(cols.size), cols, np.arange(0, cols.size + 1, trees, dtype=np.int64)),
            shape=(rows, table.shape[0] * table.shape[1]),
        )
        return np.asarray(onehot @ table.reshape(-1, table.shape[2]))

    # --- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> list[Path]:
        self.booster_.save_model(str(directory / "ranker.txt"))
        settings = {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
        settings["feature_names"] = list(self.feature_names)
        settings["categorical"] = list(self.categorical)
        (directory / "ranker.json").write_text(
            json.dumps(settings, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return [directory / "ranker.txt", directory / "ranker.json"]

    @classmethod
    def load(cls, directory: Path, compiled: bool = True) -> ParkRanker:
        """``compiled`` scores with the compiled trees, cached beside the bundle
        (:func:`matcher.compiled.cache_dir_for`); without it, or if compiling fails, LightGBM."""
        settings = json.loads((directory / "ranker.json").read_text(encoding="utf-8"))
        settings["feature_names"] = tuple(settings["feature_names"])
        settings["categorical"] = tuple(settings["categorical"])
        self = cls(**settings)
        self.booster_ = lgb.Booster(model_file=str(directory / "ranker.txt"))
        if tuple(self.booster_.feature_name()) != self.feature_names:
            raise ValueError("ranker.txt and ranker.json disagree on the feature names")
        self._build_contrib_tables()
        self.compiled_ = None
        if compiled:
            self.compile(cache_dir_for(directory))
        return self

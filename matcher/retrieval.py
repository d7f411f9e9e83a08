"""FAISS retrieval of candidate parks (and, for benchmarks, of firms among millions).

The index type is a setting: exact inner product for a catalogue of a few hundred parks, IVF or
HNSW when the same code indexes millions of firm vectors.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from features.persist import read_params, write_params

INDEX_FILE = "parks.faiss"
PARAMS_FILE = "index.json"


class VectorIndex:
    """Inner-product index over L2-normalised vectors (so scores are cosine similarities)."""

    def __init__(
        self,
        index_type: str = "flat",
        nlist: int = 1024,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_search: int = 64,
        seed: int = 0,
    ):
        if index_type not in ("flat", "ivf", "hnsw"):
            raise ValueError(f"unknown index type {index_type!r}; use flat, ivf or hnsw")
        self.index_type = index_type
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.seed = seed

    def fit(self, vectors: np.ndarray) -> VectorIndex:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        d = x.shape[1]
        if self.index_type == "flat":
            index: faiss.Index = faiss.IndexFlatIP(d)
        elif self.index_type == "ivf":
            nlist = max(1, min(self.nlist, x.shape[0] // 39))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.seed
            index.train(x)
            index.nprobe = min(self.nprobe, nlist)
        else:
            index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = self.ef_search
        index.add(x)
        self.index_ = index
        return self

    @property
    def ntotal(self) -> int:
        return int(self.index_.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.ntotal)
        scores, ids = self.index_.search(q, k)
        return scores, ids

    def save(
        self, directory: Path, index_file: str = INDEX_FILE, params_file: str = PARAMS_FILE
    ) -> list[Path]:
        """The FAISS index file plus the parameters it was built with (nprobe, efSearch, seed)."""
        faiss.write_index(self.index_, str(directory / index_file))
        return [directory / index_file, write_params(self, directory / params_file)]

    @classmethod
    def load(
        cls, directory: Path, index_file: str = INDEX_FILE, params_file: str = PARAMS_FILE
    ) -> VectorIndex:
        index = faiss.read_index(str(directory / index_file))
        params = read_params(directory / params_file)
        if not params:  # an older bundle: the index type is all the file says
            kind = (
                "flat"
                if isinstance(index, faiss.IndexFlat)
                else "hnsw"
                if isinstance(index, faiss.IndexHNSW)
                else "ivf"
            )
            params = {"index_type": kind}
        self = cls(**params)
        self.index_ = index
        return self

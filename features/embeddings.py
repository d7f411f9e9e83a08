"""Firm and park profiles as vectors in one space, so a firm lands near parks of its chain.

Three learned stages, each in scikit-learn's idiom (settings in ``__init__``, ``fit`` returns
``self``, learned state ends in ``_``) and each saved as JSON/NumPy, never pickle:

* :class:`TextEmbedder`: TF-IDF over Chinese character n-grams reduced by TruncatedSVD.  Word
  segmenters need dictionaries that age; character n-grams of 主营业务 text work offline.
* :class:`IndustryEmbedder`: a vector per GB/T 4754 code that knows the hierarchy (2/3/4-digit
  prefixes) and the input-output links of its sector, so 2710 sits near 2720 and near its
  chemical suppliers.
* :class:`IndustryInferer`: nearest GB/T 小类 for a free-text description, for firms that give
  no code.
"""

from __future__ import annotations

import copy
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from features import reference as R
from features import schemas as S
from features.persist import read_params, write_params
from features.registry import (
    Synonym,
    activity_divisions,
    division_training_groups,
    has_content,
    scope_clauses,
    synonym_hits,
)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def _save_tfidf(vec: TfidfVectorizer, path: Path) -> None:
    state = {
        "ngram_range": list(vec.ngram_range),
        "sublinear_tf": vec.sublinear_tf,
        "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
        "idf": [float(x) for x in vec.idf_],
    }
    path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")


def _load_tfidf(path: Path) -> TfidfVectorizer:
    state = json.loads(path.read_text(encoding="utf-8"))
    vec = TfidfVectorizer(
        analyzer="char",
        ngram_range=tuple(state["ngram_range"]),
        sublinear_tf=state["sublinear_tf"],
        vocabulary=state["vocabulary"],
        dtype=np.float32,
    )
    vec.idf_ = np.asarray(state["idf"], dtype=np.float64)
    return vec


def _clean(texts: Sequence[str]) -> list[str]:
    return [t if isinstance(t, str) else "" for t in texts]


_WHITE_SPACES = re.compile(r"\s\s+")


def char_ngrams(min_n: int, max_n: int) -> Callable[[str], list[str]]:
    """scikit-learn's ``analyzer="char"`` for text (lower-case, runs of white space made one
    space, every n-gram from ``min_n`` to ``max_n`` in the same order) with the n-grams sliced
    by list comprehensions instead of one ``append`` call each."""

    def grams(text: str) -> list[str]:
        t = _WHITE_SPACES.sub(" ", text.lower())
        size = len(t)
        out = list(t) if min_n == 1 else []
        for n in range(max(min_n, 2), min(max_n + 1, size + 1)):
            out.extend([t[i : i + n] for i in range(size - n + 1)])
        return out

    return grams


# Up to this many texts, :meth:`FastTfidf.project` sums gathered rows instead of building a
# sparse matrix (the same sums, in the same order).
DENSE_PROJECT_MAX_TEXTS = 16


class FastTfidf:
    """The transform of a fitted char n-gram ``TfidfVectorizer`` without scikit-learn's per-call
    validation, which costs more than the arithmetic for the one-document requests the API
    serves.  Same vocabulary, sublinear tf, idf and L2 norm, so results equal ``transform``."""

    def __init__(self, vec: TfidfVectorizer):
        plain = (
            vec.analyzer == "char"
            and vec.input == "content"
            and vec.lowercase
            and vec.preprocessor is None
            and not vec.strip_accents
        )
        self.analyzer = char_ngrams(*vec.ngram_range) if plain else vec.build_analyzer()
        self.vocabulary = vec.vocabulary_
        self.idf = np.asarray(vec.idf_, dtype=np.float32)
        self.sublinear = bool(vec.sublinear_tf)
        self.n_features = len(self.idf)
        self._plain = plain
        self._ngram_range = vec.ngram_range

    @cached_property
    def packed(self) -> _PackedVocabulary | None:
        """The vocabulary as packed keys, built on the first list long enough to use it, so a
        server that only answers single requests never spends the time; None when it cannot pack."""
        lo, hi = self._ngram_range
        return _PackedVocabulary.build(self.vocabulary, lo, hi) if self._plain else None

    def __call__(self, texts: Sequence[str]) -> sp.csr_matrix:
        vals, idx, ptr = self.rows(texts)
        return sp.csr_matrix((vals, idx, ptr), shape=(len(texts), self.n_features))

    def project(self, texts: Sequence[str], components: np.ndarray) -> np.ndarray:
        """``self(texts) @ components``.  For a few texts the rows of ``components`` are gathered
        and summed in the order the sparse product sums them, so the result is bit-identical
        without building a sparse matrix (which costs more than the arithmetic for one
        request); larger batches use the sparse product."""
        vals, idx, ptr = self.rows(texts)
        if len(texts) > DENSE_PROJECT_MAX_TEXTS:
            x = sp.csr_matrix((vals, idx, ptr), shape=(len(texts), self.n_features))
            return np.asarray(x @ components)
        out = np.zeros((len(texts), components.shape[1]), dtype=np.result_type(vals, components))
        for i in range(len(texts)):
            a, b = int(ptr[i]), int(ptr[i + 1])
            if b > a:
                out[i] = np.add.reduce(vals[a:b, None] * components[idx[a:b]], axis=0)
        return out

    def rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The TF-IDF rows in CSR form: (values, column indices, row pointers).  Each row's
        columns come in the order their n-grams first occur, as scikit-learn's analyzer emits
        them, so sums over a row (the projection) are the same bits whichever path counted."""
        packed = self.packed if len(texts) >= PACKED_MIN_TEXTS else None
        if packed is None:
            return self._rows_python(texts)
        indices, counts, indptr = packed.count(texts)
        return self._weigh(indices, counts.astype(np.float32), indptr)

    def _rows_python(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`rows` one text at a time: the fastest for a request's one or two texts."""
        indptr = [0]
        indices: list[int] = []
        counts: list[int] = []
        vocab = self.vocabulary
        # A list often repeats a text (firms of one trade with no description of their own get
        # the same industry text): each distinct text is analysed once.
        seen: dict[str, tuple[list[int], list[int]]] = {}
        for text in texts:
            hit = seen.get(text)
            if hit is None:
                # counted in C first, so the vocabulary is asked once per distinct n-gram; the
                # columns come in first-occurrence order, as before
                cols: list[int] = []
                cnts: list[int] = []
                for gram, count in Counter(self.analyzer(text)).items():
                    j = vocab.get(gram)
                    if j is not None:
                        cols.append(j)
                        cnts.append(count)
                hit = seen[text] = (cols, cnts)
            indices.extend(hit[0])
            counts.extend(hit[1])
            indptr.append(len(indices))
        idx = np.asarray(indices, dtype=np.int32)
        tf = np.asarray(counts, dtype=np.float32)
        return self._weigh(idx, tf, np.asarray(indptr, dtype=np.int64))

    def _weigh(
        self, idx: np.ndarray, tf: np.ndarray, ptr: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw counts → sublinear tf × idf, each row L2-normalised."""
        texts_n = len(ptr) - 1
        if self.sublinear:
            tf = (1.0 + np.log(tf)).astype(np.float32)
        vals = tf * self.idf[idx] if len(idx) else tf
        lengths = np.diff(ptr)
        rows = np.repeat(np.arange(texts_n), lengths)
        row_sq = np.bincount(rows, weights=vals.astype(np.float64) ** 2, minlength=texts_n)
        vals = (vals / np.sqrt(np.maximum(row_sq[rows], 1e-30))).astype(np.float32)
        return vals, idx, ptr


# From this many texts on, :meth:`FastTfidf.rows` counts n-grams with array operations over the
# whole list (:class:`_PackedVocabulary`) instead of one text at a time.
PACKED_MIN_TEXTS = 64
# Bits per character in a packed n-gram key: every code point + 1 fits in 21 bits, so n-grams of
# up to three characters fit one int64 and the lengths never collide (a 1-gram key is below
# 2**21, a 2-gram key below 2**42, a 3-gram key at or above it).
_CHAR_BITS = 21
_PACKED_MAX_N = 3


class _PackedVocabulary:
    """A char n-gram vocabulary as sorted int64 keys, and the counting of a list of texts'
    n-grams with NumPy: every text is lower-cased and its white-space runs collapsed (as the
    analyzer does), the texts are joined as code points, the n-gram keys of every length are
    built by shifts, looked up by binary search, and counted per (text, column) with one sort.

    The result equals the one-text-at-a-time count of :meth:`FastTfidf._rows_python`, including
    the order of each row's columns (first occurrence in the analyzer's order: every 1-gram,
    then every 2-gram, …), which is what makes the projected sums the same bits."""

    def __init__(self, keys: np.ndarray, columns: np.ndarray, min_n: int, max_n: int):
        self.keys = keys
        self.columns = columns
        self.min_n = min_n
        self.max_n = max_n
        self.width = int(columns.max()) + 1 if len(columns) else 1  # (text, column) pair codes

    @classmethod
    def build(cls, vocabulary: Mapping[str, int], min_n: int, max_n: int) -> _PackedVocabulary | None:
        """None when some n-gram is too long to pack (the caller keeps the per-text path)."""
        if max_n > _PACKED_MAX_N or min_n < 1:
            return None
        keys = np.empty(len(vocabulary), dtype=np.int64)
        columns = np.empty(len(vocabulary), dtype=np.int32)
        for k, (gram, col) in enumerate(vocabulary.items()):
            if not 0 < len(gram) <= _PACKED_MAX_N:
                return None
            key = 0
            for ch in gram:
                key = (key << _CHAR_BITS) | (ord(ch) + 1)
            keys[k] = key
            columns[k] = col
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], columns[order], min_n, max_n)

    def count(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(column indices int32, counts int64, row pointers int64) of every text's n-grams in
        the vocabulary."""
        slot: dict[str, int] = {}
        distinct: list[str] = []
        inverse = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            k = slot.get(text)
            if k is None:
                k = slot[text] = len(distinct)
                distinct.append(text)
            inverse[i] = k
        cols, counts, dptr = self._count_distinct([_WHITE_SPACES.sub(" ", t.lower()) for t in distinct])
        # each text takes its distinct text's slice
        lengths = np.diff(dptr)[inverse]
        ptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        gather = np.repeat(dptr[:-1][inverse] - ptr[:-1], lengths) + np.arange(int(ptr[-1]))
        return cols[gather], counts[gather], ptr

    def _count_distinct(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_texts = len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n_texts)
        total = int(lengths.sum())
        joined = "".join(texts).encode("utf-32-le", errors="surrogatepass")
        codes = np.frombuffer(joined, dtype=np.uint32).astype(np.int64) + 1
        codes = np.concatenate([codes, np.zeros(self.max_n, dtype=np.int64)])
        text_of = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
        starts = np.zeros(n_texts, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        room = lengths[text_of] - (np.arange(total, dtype=np.int64) - starts[text_of])  # chars left
        parts_text, parts_order, parts_col = [], [], []
        key = codes[:total]
        for n in range(1, self.max_n + 1):
            if n > 1:
                key = (key << _CHAR_BITS) | codes[n - 1 : n - 1 + total]
            if n < self.min_n:
                continue
            at = np.flatnonzero(room >= n)
            found = np.searchsorted(self.keys, key[at])
            found = np.minimum(found, len(self.keys) - 1)
            hit = self.keys[found] == key[at]
            at = at[hit]
            parts_text.append(text_of[at])
            # the analyzer's order inside a text: by n, then by position
            parts_order.append(n * (total + 1) + at)
            parts_col.append(self.columns[found[hit]])
        if not parts_text or not sum(len(p) for p in parts_text):
            return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(n_texts + 1, np.int64)
        text = np.concatenate(parts_text)
        order = np.concatenate(parts_order)
        col = np.concatenate(parts_col)
        emitted = np.lexsort((order, text))
        text, col = text[emitted], col[emitted]
        pair = text * np.int64(self.width) + col
        _, first, counts = np.unique(pair, return_index=True, return_counts=True)
        by_first = np.argsort(first, kind="stable")
        first, counts = first[by_first], counts[by_first]
        rows = text[first]
        ptr = np.zeros(n_texts + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_texts), out=ptr[1:])
        return col[first].astype(np.int32), counts.astype(np.int64), ptr


class TextEmbedder:
    """Character n-gram TF-IDF → TruncatedSVD, L2-normalised float32."""

    def __init__(
        self, dim: int = 64, ngram_range: tuple[int, int] = (1, 3), max_features: int = 40_000, seed: int = 0
    ):
        self.dim = dim
        self.ngram_range = ngram_range
        self.max_features = max_features
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> TextEmbedder:
        self.vectorizer_ = TfidfVectorizer(
            analyzer="char",
            ngram_range=self.ngram_range,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        x = self.vectorizer_.fit_transform(_clean(texts))
        dim = min(self.dim, x.shape[1] - 1, x.shape[0] - 1)
        svd = TruncatedSVD(n_components=dim, random_state=self.seed, algorithm="randomized", n_iter=5)
        svd.fit(x)
        self.components_ = svd.components_.astype(np.float32).T.copy()
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        if getattr(self, "_fast", None) is None:
            self._fast = FastTfidf(self.vectorizer_)
        return l2_normalise(self._fast.project(_clean(texts), self.components_))

    def save(self, directory: Path) -> list[Path]:
        _save_tfidf(self.vectorizer_, directory / "text_tfidf.json")
        np.save(directory / "text_svd.npy", self.components_, allow_pickle=False)
        params = write_params(self, directory / "text_params.json")
        return [directory / "text_tfidf.json", directory / "text_svd.npy", params]

    @classmethod
    def load(cls, directory: Path) -> TextEmbedder:
        self = cls(**read_params(directory / "text_params.json", tuples=("ngram_range",)))
        self.vectorizer_ = _load_tfidf(directory / "text_tfidf.json")
        self.components_ = np.load(directory / "text_svd.npy", allow_pickle=False)
        return self


class IndustryEmbedder:
    """Spectral embedding of GB/T codes from their hierarchy and IO-table links."""

    def __init__(
        self,
        dim: int = 48,
        w_division: float = 1.0,
        w_group: float = 0.8,
        w_class: float = 0.6,
        w_io: float = 1.5,
        io_year: int = 2020,
        seed: int = 0,
    ):
        self.dim = dim
        self.w_division = w_division
        self.w_group = w_group
        self.w_class = w_class
        self.w_io = w_io
        self.io_year = io_year
        self.seed = seed

    def fit(self, industries: pd.DataFrame | None = None) -> IndustryEmbedder:
        industries = R.load_industries() if industries is None else industries
        codes = sorted(c for c in industries["code"] if c.isdigit())
        io = R.load_io42(self.io_year)
        # Upstream and downstream profile of each IO sector, row-normalised, so sectors that buy
        # from or sell to the same sectors end up close.
        prof = np.hstack([io.a, io.a.T])
        prof = prof / np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-12)
        prefixes: dict[str, int] = {}
        rows, cols, vals = [], [], []
        weights = {2: self.w_division, 3: self.w_group, 4: self.w_class}
        for i, code in enumerate(codes):
            for p in R.industry_path(code):
                j = prefixes.setdefault(p, len(prefixes))
                rows.append(i)
                cols.append(j)
                vals.append(weights[len(p)])
        hier = sp.csr_matrix((vals, (rows, cols)), shape=(len(codes), len(prefixes)))
        io_rows = np.zeros((len(codes), prof.shape[1]))
        for i, code in enumerate(codes):
            sector = R.io42_sector(code)
            if sector is not None and sector in io.codes:
                io_rows[i] = prof[io.index(sector)] * self.w_io
        m = sp.hstack([hier, sp.csr_matrix(io_rows)]).tocsr()
        svd = TruncatedSVD(n_components=min(self.dim, m.shape[1] - 1), random_state=self.seed)
        self.codes_ = codes
        self.vectors_ = l2_normalise(svd.fit_transform(m))
        self._pos = {c: i for i, c in enumerate(codes)}
        return self

    def transform(self, codes: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(codes), self.vectors_.shape[1]), dtype=np.float32)
        for i, c in enumerate(codes):
            j = self._pos.get(c)
            if j is not None:
                out[i] = self.vectors_[j]
        return out

    def mean_of(self, code_lists: Sequence[Sequence[str]]) -> np.ndarray:
        out = np.zeros((len(code_lists), self.vectors_.shape[1]), dtype=np.float32)
        for i, codes in enumerate(code_lists):
            idx = [self._pos[c] for c in codes if c in self._pos]
            if idx:
                out[i] = self.vectors_[idx].mean(axis=0)
        return l2_normalise(out)

    def save(self, directory: Path) -> list[Path]:
        np.save(directory / "industry_vectors.npy", self.vectors_, allow_pickle=False)
        (directory / "industry_codes.json").write_text(json.dumps(self.codes_), encoding="utf-8")
        params = write_params(self, directory / "industry_params.json")
        return [directory / "industry_vectors.npy", directory / "industry_codes.json", params]

    @classmethod
    def load(cls, directory: Path) -> IndustryEmbedder:
        self = cls(**read_params(directory / "industry_params.json"))
        self.vectors_ = np.load(directory / "industry_vectors.npy", allow_pickle=False)
        self.codes_ = json.loads((directory / "industry_codes.json").read_text(encoding="utf-8"))
        self._pos = {c: i for i, c in enumerate(self.codes_)}
        return self


def industry_text(code: str) -> str:
    """A code's own name with its ancestors' names: what a description of that trade says."""
    return " ".join(R.industry_label(p) for p in R.industry_path(code))


# Everyday and modern words (3D打印, 冷链, 数据中心, 大学 …) mapped to GB/T codes in one sourced
# table, data/industry_synonyms.csv (see features.registry).  The standard says 普通高等教育 where a
# report says 大学 and 增材制造装备制造 where a firm says 3D打印; without the table a character model
# matches 3D打印 to 3749 航空航天器 on shared characters, and `industries --search` finds nothing.
SYNONYM_BOOST = 0.25
# Below this cosine similarity to the best class the guess is shown as uncertain (估, 待核实) and the
# firm gets a warning; chosen on the labelled set in docs/industry_inference.md.  It applies to an
# inferer without a calibrated division classifier (bundles written before it).
CONFIDENCE_THRESHOLD = 0.35
# With the division classifier, the confidence is the probability that the inferred division is
# right, calibrated on the classifier's out-of-fold leads over the next division for the listed
# companies' dev half (``division_calibration``): the cosine above separates right from wrong
# guesses on registry scopes no better than chance (docs/industry_inference.md), the lead does.
# A guess more likely wrong than right is shown as uncertain.
CALIBRATED_THRESHOLD = 0.5
CALIBRATION_FOLDS = 5


def with_hints(text: str, hits: Sequence[Synonym] | None = None) -> str:
    """The text followed by the standard's names of the codes its synonyms point to (``hits``:
    its :func:`synonym_hits`, when the caller has them already)."""
    hits = synonym_hits(text) if hits is None else hits
    hints = [R.industry_label(c) for syn in hits for c in syn.codes]
    return f"{text} {' '.join(hints)}" if hints else text


# A business scope of this many trade-bearing items or more is scored item by item
# (features.registry.scope_clauses), the k-th item weighing 1 / (1 + CLAUSE_DECAY·k): firms list
# their main trade first, and the tail of a registry scope is what every firm may also do.  Both
# values were chosen on half of the listed-company texts and measured on the other half
# (docs/industry_inference.md).
SCOPE_MIN_CLAUSES = 3
CLAUSE_DECAY = 0.5
UNIT_BLOCK = 2048
# Added to every class of the section a text's activity word names (features.registry.
# ACTIVITY_SECTIONS); chosen on the listed companies' dev half (0.05–0.2 tried).
ACTIVITY_BOOST = 0.15


def scoring_units(texts: Sequence[str]) -> tuple[list[str], list[int], list[float]]:
    """The pieces of text scored against the classes: each text whole, or a business scope's
    items; with the text each piece belongs to and its weight.  A text without content has none."""
    units: list[str] = []
    owner: list[int] = []
    weight: list[float] = []
    for i, text in enumerate(texts):
        if not has_content(text):
            continue
        parts = scope_clauses(text)
        if len(parts) < SCOPE_MIN_CLAUSES:
            parts = [text]
        for k, part in enumerate(parts):
            units.append(part)
            owner.append(i)
            weight.append(1.0 / (1.0 + CLAUSE_DECAY * k))
    return units, owner, weight


@dataclass(frozen=True)
class Inference:
    """One inferred code: ``code`` is None when the text says nothing about a trade."""

    code: str | None
    confidence: float
    synonyms: tuple[str, ...] = ()
    # True when ``confidence`` is the calibrated probability that the division is right (else a
    # cosine similarity); ``margin`` is the classifier's lead over the next division, NaN without one
    calibrated: bool = False
    margin: float = float("nan")

    @property
    def threshold(self) -> float:
        return CALIBRATED_THRESHOLD if self.calibrated else CONFIDENCE_THRESHOLD

    @property
    def uncertain(self) -> bool:
        return self.code is not None and self.confidence < self.threshold


class IndustryInferer:
    """Nearest GB/T code for a description, by TF-IDF cosine to per-code centroids, with the
    division chosen together with a classifier trained on real labelled text.

    Centroids come from the code's names plus, when given, labelled example descriptions (the
    simulated firms), capped per code so common trades do not drown rare ones.

    The centroids know the standard's wording and the simulator's, not how firms write: a listed
    drug maker's scope scored as 65 software.  A linear SVM over the divisions
    (``division_classifier``) is fitted on real text with known divisions (the standard's
    explanatory notes and the listed companies' ``dev`` half, :func:`features.registry.
    division_training_texts`) plus the class names and up to ``division_examples`` simulated
    descriptions per division.  A text's division is the argmax of the classifier's decision value
    plus ``division_weight`` × the best centroid score in the division; the class is the best
    centroid score inside it.  ``division_c`` and ``division_weight`` were chosen by grouped 5-fold
    cross-validation within the dev half (docs/industry_inference.md).

    ``division_calibration`` turns the division's lead over the next one into the probability that
    the division is right: a logistic fit (``calibration_``) on out-of-fold leads for the listed
    companies' dev half, each company scored by a classifier fitted without its texts.
    """

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 3),
        max_examples_per_code: int = 20,
        seed: int = 0,
        division_classifier: bool = True,
        division_c: float = 1.0,
        division_weight: float = 2.0,
        division_examples: int = 40,
        division_calibration: bool = True,
    ):
        self.ngram_range = ngram_range
        self.max_examples_per_code = max_examples_per_code
        self.seed = seed
        self.division_classifier = division_classifier
        self.division_c = division_c
        self.division_weight = division_weight
        self.division_examples = division_examples
        self.division_calibration = division_calibration

    def fit(self, texts: Sequence[str] | None = None, codes: Sequence[str] | None = None) -> IndustryInferer:
        classes = sorted(c for c in R.numeric_industry_codes() if len(c) == 4)
        docs = [industry_text(c) for c in classes]
        labels = list(range(len(classes)))
        if texts is not None and codes is not None:
            pos = {c: i for i, c in enumerate(classes)}
            rng = np.random.default_rng(self.seed)
            order = rng.permutation(len(texts))
            used: dict[int, int] = {}
            for k in order:
                j = pos.get(str(codes[k]))
                if j is None or used.get(j, 0) >= self.max_examples_per_code:
                    continue
                used[j] = used.get(j, 0) + 1
                docs.append(str(texts[k]))
                labels.append(j)
        self.vectorizer_ = TfidfVectorizer(
            analyzer="char", ngram_range=self.ngram_range, sublinear_tf=True, dtype=np.float32
        )
        x = self.vectorizer_.fit_transform(docs)
        onehot = sp.csr_matrix(
            (np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(len(classes), len(labels))
        )
        centroids = onehot @ x
        norms = np.sqrt(np.asarray(centroids.multiply(centroids).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        self.centroids_ = sp.csr_matrix(sp.diags(1.0 / norms) @ centroids, dtype=np.float32)
        self.classes_ = classes
        self.division_vectorizer_: TfidfVectorizer | None = None
        self.division_coef_: np.ndarray | None = None
        self.division_intercept_: np.ndarray | None = None
        self.division_classes_: list[str] = []
        self.calibration_: tuple[float, float] | None = None
        self._clear_caches()
        if self.division_classifier:
            real, real_labels, groups = division_training_groups()
            extra, extra_labels = self._division_extras(classes, texts, codes)
            self._set_divisions(*self._fit_divisions(real + extra, real_labels + extra_labels))
            if self.division_calibration:
                self.calibration_ = self._fit_calibration(real, real_labels, groups, extra, extra_labels)
        return self

    def _clear_caches(self) -> None:
        for cache in ("_fast", "_section_masks", "_division_layout"):  # built from an earlier fit
            self.__dict__.pop(cache, None)

    def _division_extras(
        self, classes: Sequence[str], texts: Sequence[str] | None, codes: Sequence[str] | None
    ) -> tuple[list[str], list[str]]:
        """The class names and up to ``division_examples`` simulated descriptions per division."""
        docs = [industry_text(c) for c in classes]
        labels = [c[:2] for c in classes]
        if texts is not None and codes is not None:
            rng = np.random.default_rng(self.seed)
            used: dict[str, int] = {}
            for k in rng.permutation(len(texts)):
                div = str(codes[k])[:2]
                text = str(texts[k])
                if used.get(div, 0) >= self.division_examples or not has_content(text):
                    continue
                used[div] = used.get(div, 0) + 1
                docs.append(text)
                labels.append(div)
        return docs, labels

    def _fit_divisions(
        self, docs: Sequence[str], labels: Sequence[str]
    ) -> tuple[TfidfVectorizer, np.ndarray, np.ndarray, list[str]]:
        """The division classifier: (vectorizer, (vocabulary, divisions) coefficients, intercepts,
        divisions); a text's decision values are its TF-IDF row projected on the coefficients."""
        vec = TfidfVectorizer(
            analyzer="char", ngram_range=self.ngram_range, sublinear_tf=True, min_df=2, dtype=np.float32
        )
        svm = LinearSVC(C=self.division_c, random_state=self.seed).fit(vec.fit_transform(docs), labels)
        return (
            vec,
            np.ascontiguousarray(svm.coef_.T, dtype=np.float32),
            np.asarray(svm.intercept_, dtype=np.float32),
            [str(c) for c in svm.classes_],
        )

    def _set_divisions(
        self, vec: TfidfVectorizer, coef: np.ndarray, intercept: np.ndarray, classes: list[str]
    ) -> None:
        self.division_vectorizer_ = vec
        self.division_coef_ = coef
        self.division_intercept_ = intercept
        self.division_classes_ = classes
        self._clear_caches()

    def _fit_calibration(
        self,
        real: list[str],
        real_labels: list[str],
        groups: list[str],
        extra: list[str],
        extra_labels: list[str],
    ) -> tuple[float, float] | None:
        """(intercept, slope) of P(division right | lead over the next division), fitted on the
        listed companies' texts, each scored by a classifier fitted without its company
        (:data:`CALIBRATION_FOLDS` folds by company; the notes and extras always train).  None
        when the leads do not rank right above wrong (a slope ≤ 0)."""
        from sklearn.linear_model import LogisticRegression

        listed = [k for k, g in enumerate(groups) if g.startswith("listed:")]
        if len(listed) < 2 * CALIBRATION_FOLDS:
            return None
        fold = {k: zlib.crc32(groups[k].encode()) % CALIBRATION_FOLDS for k in listed}
        probe = copy.copy(self)
        probe.calibration_ = None
        margins: list[float] = []
        right: list[bool] = []
        for f in range(CALIBRATION_FOLDS):
            held = [k for k in listed if fold[k] == f]
            held_set = set(held)
            keep = [k for k in range(len(real)) if k not in held_set]
            probe._set_divisions(
                *self._fit_divisions(
                    [real[k] for k in keep] + extra, [real_labels[k] for k in keep] + extra_labels
                )
            )
            for k, res in zip(held, probe.infer([real[k] for k in held]), strict=True):
                if res.code is not None and np.isfinite(res.margin):
                    margins.append(res.margin)
                    right.append(res.code[:2] == real_labels[k])
        if len(set(right)) < 2:
            return None
        fit = LogisticRegression(C=1e6).fit(np.asarray(margins)[:, None], np.asarray(right))
        slope = float(fit.coef_[0, 0])
        return (float(fit.intercept_[0]), slope) if slope > 0 else None

    def calibrated_confidence(self, margin: float) -> float:
        """P(division right) for a lead of ``margin`` over the next division (1.0 when no other
        division was allowed)."""
        assert self.calibration_ is not None
        a, b = self.calibration_
        return float(1.0 / (1.0 + np.exp(-(a + b * margin)))) if np.isfinite(margin) else 1.0

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Best class per text (the most frequent class for a text without content, kept for
        callers that need a code for every text; :meth:`infer` says when there is none)."""
        return [r.code or self.classes_[0] for r in self.infer(texts)]

    def infer(self, texts: Sequence[str], allowed: Sequence[Sequence[str]] | None = None) -> list[Inference]:
        """Best class, its cosine similarity and the synonyms used, per text.

        ``allowed[i]`` limits text ``i`` to classes starting with one of its prefixes (the split
        targets of a 2011 code, or the division a 所属行业 name gives); empty means any class.  A
        synonym's first class gets :data:`SYNONYM_BOOST` and its alternatives half of it, so a
        table entry decides between close characters but does not override a description that
        clearly says something else; an activity word (生产, 批发, 仓储 …) adds
        :data:`ACTIVITY_BOOST` to its GB/T section.  A business scope of
        :data:`SCOPE_MIN_CLAUSES` items or more is scored item by item (:func:`scoring_units`),
        and its similarity is the items' weighted mean.
        """
        if not texts:
            return []
        if getattr(self, "_fast", None) is None:
            self._fast = FastTfidf(self.vectorizer_)
            self._class_pos = {c: i for i, c in enumerate(self.classes_)}
            # transposed once: a CSR's transpose is CSC, which every product would convert back
            self._centroids_t = self.centroids_.T.tocsr()
            vec = getattr(self, "division_vectorizer_", None)
            self._division_fast = FastTfidf(vec) if vec is not None else None
        clean = _clean(texts)
        out: list[Inference] = []
        for start in range(0, len(clean), 1024):  # dense similarity blocks stay small
            block = clean[start : start + 1024]
            out.extend(self._infer_block(block, None if allowed is None else allowed[start : start + 1024]))
        return out

    def _infer_block(self, clean: Sequence[str], allowed: Sequence[Sequence[str]] | None) -> list[Inference]:
        units, owner, weight = scoring_units(clean)
        hits = [synonym_hits(u) for u in units]
        # a text's score is its units' weighted mean (a text read whole is its one unit),
        # summed over unit blocks so a list of long scopes never holds all unit rows at once
        w = sp.csr_matrix((weight, (owner, np.arange(len(units)))), shape=(len(clean), len(units)))
        raw = np.zeros((len(clean), len(self.classes_)))
        scores = np.zeros_like(raw)
        divisions = self._division_fast is not None
        decision = np.zeros((len(clean), len(self.division_classes_) if divisions else 0))
        for start in range(0, len(units), UNIT_BLOCK):
            stop = min(start + UNIT_BLOCK, len(units))
            unit_dec = self._division_decisions(units[start:stop])
            if unit_dec is not None:
                decision += w[:, start:stop] @ unit_dec
            x = self._fast([with_hints(u, hits[k]) for k, u in enumerate(units[start:stop], start)])
            sims = np.asarray((x @ self._centroids_t).todense(), dtype=np.float64)
            boosted = sims.copy()
            for u in range(start, stop):
                for syn in hits[u]:
                    for rank, code in enumerate(syn.codes):
                        # the table lists the usual class first; the others are alternatives
                        boost = SYNONYM_BOOST if rank == 0 else SYNONYM_BOOST / 2
                        for j in self._prefix_positions(code):
                            boosted[u - start, j] = max(boosted[u - start, j], sims[u - start, j] + boost)
                for lo, hi in activity_divisions(units[u]):
                    boosted[u - start] += ACTIVITY_BOOST * self._section_mask(lo, hi)
            block = w[:, start:stop]
            raw += block @ sims
            scores += block @ boosted
        norm = np.asarray(w.sum(axis=1)).ravel()
        norm[norm == 0] = 1.0
        raw /= norm[:, None]
        scores /= norm[:, None]
        decision /= norm[:, None]
        terms: list[list[str]] = [[] for _ in clean]
        for u, unit_hits in enumerate(hits):
            for syn in unit_hits:
                if syn.term not in terms[owner[u]]:
                    terms[owner[u]].append(syn.term)
        out: list[Inference] = []
        for i, text in enumerate(clean):
            if not has_content(text) or raw[i].max() <= 0.0:
                out.append(Inference(None, 0.0))
                continue
            score = scores[i]
            if allowed is not None and allowed[i]:
                mask = np.zeros(len(score), dtype=bool)
                for prefix in allowed[i]:
                    mask[self._prefix_positions(prefix)] = True
                if mask.any():
                    score = np.where(mask, score, -np.inf)
            if divisions:
                j, margin = self._choose(score, decision[i])
            else:
                j, margin = int(np.argmax(score)), float("nan")
            if self.calibration_ is not None:
                confidence, calibrated = self.calibrated_confidence(margin), True
            else:
                confidence, calibrated = float(min(score[j], 1.0)), False
            out.append(Inference(self.classes_[j], confidence, tuple(terms[i]), calibrated, margin))
        return out

    def _division_decisions(self, units: Sequence[str]) -> np.ndarray | None:
        """(units, divisions) the classifier's decision values; None without a classifier."""
        fast, coef, intercept = self._division_fast, self.division_coef_, self.division_intercept_
        if fast is None or coef is None or intercept is None:
            return None
        return (fast.project(units, coef) + intercept).astype(np.float64)

    def _choose(self, score: np.ndarray, decision: np.ndarray) -> tuple[int, float]:
        """The class: the best centroid score inside the division where the classifier's decision
        value plus ``division_weight`` × the division's best centroid score is highest; and that
        division's lead over the next (infinite when the allowed prefixes leave only one)."""
        starts, clf_col = self._division_layout
        best = np.maximum.reduceat(score, starts)  # classes are sorted, so divisions are runs
        clf = np.where(clf_col >= 0, decision[np.maximum(clf_col, 0)], -1e6)
        combined = clf + self.division_weight * best
        d = int(np.argmax(combined))
        runner_up = np.max(np.delete(combined, d)) if len(combined) > 1 else -np.inf
        margin = float(combined[d] - runner_up) if np.isfinite(runner_up) else float("inf")
        stop = starts[d + 1] if d + 1 < len(starts) else len(score)
        return int(starts[d] + np.argmax(score[starts[d] : stop])), margin

    @cached_property
    def _division_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """(first class position of each division, the classifier's column for it or -1)."""
        divs = [c[:2] for c in self.classes_]
        starts = np.array([k for k, d in enumerate(divs) if k == 0 or d != divs[k - 1]], dtype=np.int64)
        col = {d: k for k, d in enumerate(self.division_classes_)}
        return starts, np.array([col.get(divs[k], -1) for k in starts], dtype=np.int64)

    def _section_mask(self, lo: int, hi: int) -> np.ndarray:
        """1.0 for the classes of divisions ``lo``–``hi``, else 0.0; built once per section."""
        masks = self.__dict__.setdefault("_section_masks", {})
        if (lo, hi) not in masks:
            div = np.array([int(c[:2]) for c in self.classes_])
            masks[(lo, hi)] = ((div >= lo) & (div <= hi)).astype(np.float64)
        return masks[(lo, hi)]  # type: ignore[no-any-return]

    def _prefix_positions(self, prefix: str) -> list[int]:
        if len(prefix) == 4:
            j = self._class_pos.get(prefix)
            return [] if j is None else [j]
        return [j for c, j in self._class_pos.items() if c.startswith(prefix)]

    __call__ = predict

    def accuracy(self, texts: Sequence[str], codes: Sequence[str]) -> dict[str, float | int]:
        """Share of texts whose inferred code agrees with the label at 2 digits (every label) and at
        4 digits (labels given to 4 digits), and how many were left without a code."""
        results = self.infer(texts)
        pred = [r.code or "" for r in results]
        two = [p[:2] == c[:2] for p, c in zip(pred, codes, strict=True)]
        four = [p == c for p, c in zip(pred, codes, strict=True) if len(c) == 4]
        return {
            "n": len(codes),
            "n_4digit": len(four),
            "acc_2digit": float(np.mean(two)) if two else 0.0,
            "acc_4digit": float(np.mean(four)) if four else 0.0,
            "no_code": sum(r.code is None for r in results),
            "uncertain": sum(r.uncertain for r in results),
        }

    def save(self, directory: Path) -> list[Path]:
        _save_tfidf(self.vectorizer_, directory / "inferer_tfidf.json")
        sp.save_npz(directory / "inferer_centroids.npz", self.centroids_)
        (directory / "inferer_classes.json").write_text(json.dumps(self.classes_), encoding="utf-8")
        params = write_params(self, directory / "inferer_params.json")
        files = [
            directory / "inferer_tfidf.json",
            directory / "inferer_centroids.npz",
            directory / "inferer_classes.json",
            params,
        ]
        if self.division_vectorizer_ is not None and self.division_coef_ is not None:
            assert self.division_intercept_ is not None
            _save_tfidf(self.division_vectorizer_, directory / "inferer_division_tfidf.json")
            np.save(directory / "inferer_division_coef.npy", self.division_coef_, allow_pickle=False)
            (directory / "inferer_division.json").write_text(
                json.dumps(
                    {
                        "classes": self.division_classes_,
                        "intercept": [float(v) for v in self.division_intercept_],
                        "calibration": None if self.calibration_ is None else list(self.calibration_),
                    }
                ),
                encoding="utf-8",
            )
            files += [
                directory / "inferer_division_tfidf.json",
                directory / "inferer_division_coef.npy",
                directory / "inferer_division.json",
            ]
        return files

    @classmethod
    def load(cls, directory: Path) -> IndustryInferer:
        params = read_params(directory / "inferer_params.json", tuples=("ngram_range",))
        # a bundle written before the division classifier existed has no such parameter
        params.setdefault("division_classifier", False)
        params.setdefault("division_calibration", False)
        self = cls(**params)
        self.vectorizer_ = _load_tfidf(directory / "inferer_tfidf.json")
        self.centroids_ = sp.load_npz(directory / "inferer_centroids.npz").tocsr()
        self.classes_ = json.loads((directory / "inferer_classes.json").read_text(encoding="utf-8"))
        self.division_vectorizer_ = None
        self.division_coef_ = None
        self.division_intercept_ = None
        self.division_classes_ = []
        self.calibration_ = None
        if self.division_classifier:  # its files missing is an error, not a quieter model
            head = json.loads((directory / "inferer_division.json").read_text(encoding="utf-8"))
            self.division_vectorizer_ = _load_tfidf(directory / "inferer_division_tfidf.json")
            self.division_coef_ = np.load(directory / "inferer_division_coef.npy", allow_pickle=False)
            self.division_intercept_ = np.asarray(head["intercept"], dtype=np.float32)
            self.division_classes_ = list(head["classes"])
            calibration = head.get("calibration")
            if self.division_calibration and calibration is None:
                raise ValueError(f"{directory}: division_calibration is set but no calibration was saved")
            if calibration is not None:
                self.calibration_ = (float(calibration[0]), float(calibration[1]))
        return self


class ProfileEmbedder:
    """Joins text and industry vectors into the retrieval space shared by firms and parks."""

    def __init__(
        self,
        text_dim: int = 64,
        industry_dim: int = 48,
        text_weight: float = 0.6,
        industry_weight: float = 1.0,
        partner_weight: float = 0.3,
        seed: int = 0,
    ):
        self.text_dim = text_dim
        self.industry_dim = industry_dim
        self.text_weight = text_weight
        self.industry_weight = industry_weight
        self.partner_weight = partner_weight
        self.seed = seed

    def fit(self, parks: pd.DataFrame, firm_texts: Sequence[str] = ()) -> ProfileEmbedder:
        corpus = list(self.park_texts(parks)) + [industry_text(c) for c in sorted(R.numeric_industry_codes())]
        corpus += list(firm_texts)
        self.text_ = TextEmbedder(self.text_dim, seed=self.seed).fit(corpus)
        self.industry_ = IndustryEmbedder(self.industry_dim, seed=self.seed).fit()
        return self

    @staticmethod
    def park_texts(parks: pd.DataFrame) -> list[str]:
        return [
            f"{lead} " + " ".join(industry_text(c) for c in codes)
            for lead, codes in zip(parks[S.LEADING_INDUSTRIES], parks[S.INDUSTRY_CODES], strict=True)
        ]

    def _join(self, text: np.ndarray, industry: np.ndarray) -> np.ndarray:
        return l2_normalise(np.hstack([text * self.text_weight, industry * self.industry_weight]))

    def embed_parks(self, parks: pd.DataFrame) -> np.ndarray:
        text = self.text_.transform(self.park_texts(parks))
        industry = self.industry_.mean_of(list(parks[S.INDUSTRY_CODES]))
        return self._join(text, industry)

    def embed_firms(
        self, descriptions: Sequence[str], codes: Sequence[str], partners: Sequence[Sequence[str]]
    ) -> np.ndarray:
        texts = [f"{d} {industry_text(c)}" for d, c in zip(descriptions, codes, strict=True)]
        text = self.text_.transform(texts)
        industry = self.industry_.transform(codes)
        if any(len(p) for p in partners):
            industry = l2_normalise(industry + self.partner_weight * self.industry_.mean_of(partners))
        return self._join(text, industry)

    def save(self, directory: Path) -> list[Path]:
        params = write_params(self, directory / "embedder.json")
        return [params, *self.text_.save(directory), *self.industry_.save(directory)]

    @classmethod
    def load(cls, directory: Path) -> ProfileEmbedder:
        self = cls(**read_params(directory / "embedder.json"))
        self.text_ = TextEmbedder.load(directory)
        self.industry_ = IndustryEmbedder.load(directory)
        return self

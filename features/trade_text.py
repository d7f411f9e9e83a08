"""The trade words a firm's description shares with a park's stated specialism.

A park's 主导产业 and its own name say what it was built for: 北京·中华老字号食品产业园,
深州绿色智能家居产业园, 香河机器人产业港.  The profile embedding reads the same texts, but its
projection to a few dozen dimensions blurs the rare, specific words (老字号, 家居, 机器人) that tell
one food or furniture park from twenty others.  This feature keeps them: the cosine of the two
texts' character 2–3-gram TF-IDF vectors, with the inverse document frequency taken over the
catalogue's own park texts, so words every park states (制造, 产业) weigh little.

Place words never count.  Names of counties, cities, provinces and Beijing's districts and
functional zones, and the region words (雄安, 副中心, 京津冀 …), are removed from both texts first:
a description that names where a firm went, as news reports do, cannot match a park by its
place, only by its trade.  Words every kind of park carries in its name (经济开发区, 产业园 …) are
removed too.  The vocabulary is a function of the catalogue alone, so nothing is fitted or saved:
a changed catalogue gets its own vocabulary when its arrays are built.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from features import reference as R
from features import schemas as S

NGRAMS = (2, 3)
# Region words that name a place, not a trade (the 2+4+46 platforms' and the region's own names).
REGION_WORDS = (
    "京津冀",
    "京津",
    "京冀",
    "津冀",
    "京唐",
    "环渤海",
    "渤海新区",
    "雄安",
    "副中心",
    "滨海",
    "曹妃甸",
    "亦庄",
    "北京",
    "天津",
    "河北",
)
# What every kind of park is called: a match on these says nothing about the trade.
GENERIC_WORDS = (
    "经济技术开发区",
    "高新技术产业开发区",
    "高新技术产业园区",
    "经济开发区",
    "开发区",
    "高新区",
    "经开区",
    "产业园区",
    "工业园区",
    "产业园",
    "工业园",
    "产业城",
    "产业港",
    "产业基地",
    "园区",
    "示范区",
    "协同发展",
    "承接平台",
    "管理区",
    "新区",
    "分园",
    "项目",
)
_SUFFIXES = ("满族蒙古族自治县", "回族自治县", "满族自治县", "自治县", "新区", "县", "区", "市", "省")
_RUNS = re.compile(r"[0-9A-Za-z\u3400-\u9fff]+")


def _core(name: str) -> str:
    for s in _SUFFIXES:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


@lru_cache(maxsize=1)
def _removed() -> re.Pattern[str]:
    """One alternation of every place and generic word, longest first."""
    counties = R.load_counties()
    names = {str(v) for col in ("name", "prefecture", "province") for v in counties[col].dropna()}
    names |= {str(v) for v in R.beijing_districts()["district"]}
    names |= {str(v) for v in R._read_csv(R.data_file("beijing_functional_zones.csv"))["zone"]}
    words = {w for n in names for w in (n, _core(n)) if len(w) >= 2}
    words |= set(REGION_WORDS) | set(GENERIC_WORDS)
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))))


def clean(text: str) -> str:
    """The text with place and generic words replaced by a break."""
    return _removed().sub(" ", text.lower())


def grams(text: str) -> list[str]:
    """Character 2–3-grams inside runs of letters, digits and Han characters of the cleaned text."""
    lo, hi = NGRAMS
    out: list[str] = []
    for run in _RUNS.findall(clean(text)):
        for n in range(lo, hi + 1):
            out.extend(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def park_trade_texts(parks: pd.DataFrame) -> list[str]:
    """Each park's stated specialism as one text: its 主导产业 (blank when unknown) and its name."""
    return [
        f"{'' if R.is_blank(lead) else lead} {name}"
        for lead, name in zip(parks[S.LEADING_INDUSTRIES], parks[S.PARK_NAME], strict=True)
    ]


class TradeText:
    """The catalogue's park texts as normalised TF-IDF rows, and a firm text's cosine to each."""

    def __init__(self, park_texts: Sequence[str]):
        docs = [Counter(grams(t)) for t in park_texts]
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d.keys())
        words = sorted(df)
        self.vocabulary = {g: j for j, g in enumerate(words)}
        n = len(docs)
        # scikit-learn's smoothed idf; a firm's n-gram no park states weighs as a word of df 0
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in words], dtype=np.float64)
        self.unseen_idf = math.log(1 + n) + 1.0
        rows = np.zeros((n, len(self.vocabulary)), dtype=np.float64)
        for p, d in enumerate(docs):
            for g, c in d.items():
                j = self.vocabulary[g]
                rows[p, j] = (1.0 + math.log(c)) * self.idf[j]
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        self.parks = (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        self._parks_t = np.ascontiguousarray(self.parks.T)  # the product's operand, laid out once
        self._park_grams = [set(d) for d in docs]
        self._texts = list(park_texts)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, weights) of one text, normalised over all its n-grams, known or not."""
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        counts = Counter(grams(text))
        cols, vals, sq = [], [], 0.0
        for g, c in counts.items():
            j = self.vocabulary.get(g)
            w = (1.0 + math.log(c)) * (self.idf[j] if j is not None else self.unseen_idf)
            sq += w * w
            if j is not None:
                cols.append(j)
                vals.append(w)
        norm = math.sqrt(sq) if sq > 0 else 1.0
        hit = (np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=np.float32) / np.float32(norm))
        if len(self._cache) < 50_000:
            self._cache[text] = hit
        return hit

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """(n, parks) cosines; NaN for a firm with no description (unknown, not 0)."""
        n, n_parks = len(texts), self.parks.shape[0]
        out = np.full((n, n_parks), np.nan, dtype=np.float32)
        distinct: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if t:
                distinct.setdefault(t, []).append(i)
        if not distinct:
            return out
        keys = list(distinct)
        vecs = [self._vector(t) for t in keys]
        # the same product for every text whatever the batch size, so a firm scores the same
        # alone and in a batch
        zero = np.zeros(self.parks.shape[0], dtype=np.float32)
        sims = [v @ self._parks_t[c] if len(c) else zero for c, v in vecs]
        for k, rows in enumerate(distinct.values()):
            out[rows] = sims[k]
        return out

    def shared_word(self, text: str, p: int) -> str | None:
        """The longest run of characters the text and park ``p``'s text both state (at least two,
        place and generic words removed), the rarer one among equally long runs: a reason an
        officer can check against the two texts.  None if they share no trade word."""
        common = self._park_grams[p].intersection(grams(text)) if text else set()
        if not common:
            return None
        best: tuple[int, float, str] | None = None
        park_runs = _RUNS.findall(clean(self._texts[p]))
        for run in _RUNS.findall(clean(text)):
            for other in park_runs:
                for word in _common_runs(run, other):
                    rare = [self.idf[self.vocabulary[g]] for g in _grams_of(word) if g in common]
                    key = (len(word), float(max(rare, default=0.0)), word)
                    if best is None or key[:2] > best[:2]:
                        best = key
        return best[2] if best is not None else None


def _grams_of(word: str) -> list[str]:
    lo, hi = NGRAMS
    return [word[i : i + n] for n in range(lo, hi + 1) for i in range(len(word) - n + 1)]


def _common_runs(a: str, b: str) -> list[str]:
    """The maximal common substrings of ``a`` and ``b`` of two or more characters."""
    out: list[str] = []
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                cur[j] = prev[j - 1] + 1
        for j in range(1, len(b) + 1):
            n = cur[j]
            # maximal: cannot be extended to the right
            if n >= 2 and (i == len(a) or j == len(b) or a[i] != b[j]):
                out.append(a[i - n : i])
        prev = cur
    return out

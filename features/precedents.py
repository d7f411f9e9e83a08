"""Documented precedents: where real relocations of the same kind went.

Officers argue from precedent ("雄安已承接央企总部 8 起"), and so does the evidence: real moves
concentrate by function (SOE headquarters to 雄安, pharma plants to the 沧州 park, markets to
the designated market sites).  This stage turns the documented cases in ``data/relocations.csv``
into three pair features, each a share so that a smaller corpus (a cross-validation fold) gives
the same scale:

- ``precedent_function``: share of cases with an overlapping function that went to the park's county;
- ``precedent_division``: share of cases of the firm's 2-digit industry division that went there;
- ``precedent_park``: share of cases with an overlapping function whose documented park is this park;
- ``precedent_nearby_function`` / ``precedent_nearby_division``: the same shares with each case
  spread over nearby parks by a Gaussian kernel (:data:`BANDWIDTH_KM`) on the distance between the
  case's destination county and the park, so that a cluster of moves into 固安 and 永清 also
  speaks for 霸州 next door, and a county with no documented move is not a blank.

A case never counts towards its own relocation group (``exclude_groups``), so the ranker is trained
on what it will see for a new firm, and no firm's name or id is ever read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from features import reference as R
from features import schemas as S

XIONGAN = "133100"
XIONGAN_COUNTIES = frozenset({"133100", "130638", "130629", "130632"})  # 雄县/容城/安新
FILE = "precedents.json"
N_FEATURES = 5
BANDWIDTH_KM = 25.0


def county_key(adcode: str) -> str:
    """雄安新区 counts as one destination whichever of its three counties a source names."""
    return XIONGAN if adcode in XIONGAN_COUNTIES else adcode


def function_mask(functions: list[str]) -> int:
    out = 0
    for f in functions:
        if f in S.FUNCTIONS:
            out |= 1 << S.FUNCTIONS.index(f)
    return out


class Precedents:
    """Counts of documented cases by function and division, per destination county and park."""

    def __init__(self, min_cases: int = 1, bandwidth_km: float = BANDWIDTH_KM):
        self.min_cases = min_cases
        self.bandwidth_km = bandwidth_km

    def fit(
        self,
        masks: np.ndarray,
        divisions: np.ndarray,
        counties: list[str],
        park_pos: np.ndarray,
        groups: list[str],
        park_counties: list[str],
        park_lat: np.ndarray,
        park_lng: np.ndarray,
    ) -> Precedents:
        """``masks``: each case's function bitmask; ``divisions``: its 2-digit code position
        (-1 unknown); ``counties``: destination adcode; ``park_pos``: destination park position
        (-1 when the park is not in the catalogue); ``park_counties``: each park's adcode."""
        self._memo: dict[tuple[int, int, str | None], np.ndarray] = {}
        keys = sorted({county_key(c) for c in park_counties} | {county_key(c) for c in counties})
        pos = {k: i for i, k in enumerate(keys)}
        self.county_keys_ = keys
        self.case_mask_ = np.asarray(masks, dtype=np.int64)
        self.case_div_ = np.asarray(divisions, dtype=np.int64)
        self.case_county_ = np.array([pos[county_key(c)] for c in counties], dtype=np.int64)
        self.case_park_ = np.asarray(park_pos, dtype=np.int64)
        self.case_group_ = np.asarray(groups, dtype=object)
        self.park_county_ = np.array([pos[county_key(c)] for c in park_counties], dtype=np.int64)
        seats = R.load_counties().set_index("adcode")
        lat = seats[S.LAT].to_dict()
        lng = seats[S.LNG].to_dict()
        self.case_lat_ = np.array([float(lat[county_key(c)]) for c in counties])
        self.case_lng_ = np.array([float(lng[county_key(c)]) for c in counties])
        self.park_lat_ = np.asarray(park_lat, dtype=np.float64)
        self.park_lng_ = np.asarray(park_lng, dtype=np.float64)
        return self

    @property
    def kernel_(self) -> np.ndarray:
        """(cases, parks) Gaussian weights of each case's destination seen from each park."""
        cached = getattr(self, "_kernel", None)
        if cached is None:
            d = R.haversine_km(
                self.case_lat_[:, None],
                self.case_lng_[:, None],
                self.park_lat_[None, :],
                self.park_lng_[None, :],
            )
            cached = self._kernel = np.exp(-0.5 * (d / self.bandwidth_km) ** 2)
        return cached

    @property
    def n_cases_(self) -> int:
        return len(self.case_mask_)

    def _tables(self, mask: int, div: int, group: str | None) -> np.ndarray:
        """(:data:`N_FEATURES`, P) shares for one (function mask, division, excluded group).

        Memoised on the fitted state: retrieval and pair features ask for the same keys on every
        request, and there are at most a few thousand distinct ones."""
        memo: dict[tuple[int, int, str | None], np.ndarray] = self.__dict__.setdefault("_memo", {})
        if len(memo) > 100_000:  # a bound for long-running servers
            memo.clear()
        key = (mask, div, group)
        if key not in memo:
            memo[key] = self._compute_tables(mask, div, group)
        return memo[key]

    def _compute_tables(self, mask: int, div: int, group: str | None) -> np.ndarray:
        other = np.ones(self.n_cases_, dtype=bool) if group is None else self.case_group_ != group
        fn = other & ((self.case_mask_ & mask) != 0)
        dv = other & (self.case_div_ == div) & (div >= 0)
        nc = len(self.county_keys_)
        n_parks = len(self.park_county_)
        fn_c = np.bincount(self.case_county_[fn], minlength=nc) / max(int(fn.sum()), self.min_cases)
        dv_c = np.bincount(self.case_county_[dv], minlength=nc) / max(int(dv.sum()), self.min_cases)
        on_park = fn & (self.case_park_ >= 0)
        fn_p = np.bincount(self.case_park_[on_park], minlength=n_parks)[:n_parks] / max(
            int(fn.sum()), self.min_cases
        )
        k = self.kernel_
        near_fn = fn.astype(np.float64) @ k / max(int(fn.sum()), self.min_cases)
        near_dv = dv.astype(np.float64) @ k / max(int(dv.sum()), self.min_cases)
        return np.stack([fn_c[self.park_county_], dv_c[self.park_county_], fn_p, near_fn, near_dv]).astype(
            np.float32
        )

    def features(
        self,
        masks: np.ndarray,
        divisions: np.ndarray,
        cand: np.ndarray,
        exclude_groups: list[str] | None = None,
    ) -> np.ndarray:
        """(n, k, :data:`N_FEATURES`) precedent shares for candidate park positions ``cand``."""
        n, k = cand.shape
        out = np.zeros((n, k, N_FEATURES), dtype=np.float32)
        cp = np.where(cand < 0, 0, cand)
        groups = exclude_groups if exclude_groups is not None else [None] * n
        # one gather per distinct (function mask, division, group): a batch has few of them
        keys: dict[tuple[int, int, str | None], int] = {}
        inv = np.fromiter(
            (
                keys.setdefault((int(m), int(d), g or None), len(keys))
                for m, d, g in zip(masks, divisions, groups, strict=True)
            ),
            dtype=np.int64,
            count=n,
        )
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(len(keys) + 1))
        for u, key in enumerate(keys):
            rows = order[bounds[u] : bounds[u + 1]]
            out[rows] = np.moveaxis(self._tables(*key)[:, cp[rows]], 0, -1)
        return out

    def counts(self, mask: int, park: int) -> int:
        """Documented cases with an overlapping function whose destination is this park's county."""
        fn = (self.case_mask_ & mask) != 0
        return int((fn & (self.case_county_ == self.park_county_[park])).sum())

    def save(self, directory: Path) -> list[Path]:
        state = {
            "min_cases": self.min_cases,
            "bandwidth_km": self.bandwidth_km,
            "case_lat": self.case_lat_.tolist(),
            "case_lng": self.case_lng_.tolist(),
            "park_lat": self.park_lat_.tolist(),
            "park_lng": self.park_lng_.tolist(),
            "county_keys": self.county_keys_,
            "case_mask": self.case_mask_.tolist(),
            "case_div": self.case_div_.tolist(),
            "case_county": self.case_county_.tolist(),
            "case_park": self.case_park_.tolist(),
            "case_group": [str(g) for g in self.case_group_],
            "park_county": self.park_county_.tolist(),
        }
        path = directory / FILE
        path.write_text(json.dumps(state), encoding="utf-8")
        return [path]

    @classmethod
    def load(cls, directory: Path) -> Precedents:
        state = json.loads((directory / FILE).read_text(encoding="utf-8"))
        self = cls(min_cases=int(state["min_cases"]), bandwidth_km=float(state["bandwidth_km"]))
        for name in ("case_lat", "case_lng", "park_lat", "park_lng"):
            setattr(self, name + "_", np.asarray(state[name], dtype=np.float64))
        self.county_keys_ = list(state["county_keys"])
        self.case_mask_ = np.asarray(state["case_mask"], dtype=np.int64)
        self.case_div_ = np.asarray(state["case_div"], dtype=np.int64)
        self.case_county_ = np.asarray(state["case_county"], dtype=np.int64)
        self.case_park_ = np.asarray(state["case_park"], dtype=np.int64)
        self.case_group_ = np.asarray(state["case_group"], dtype=object)
        self.park_county_ = np.asarray(state["park_county"], dtype=np.int64)
        return self

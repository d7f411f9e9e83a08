"""Loaders for the reference tables that ship in ``data/``.

They are read lazily and cached, never at import time.  The park catalogue is validated row
by row: a bad catalogue must stop the program with the file, line and field named, because a
silently dropped park is a recommendation an officer never sees.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import schemas as S


class ReferenceDataError(ValueError):
    """A reference file is malformed; the message names the file, line and field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, reason: str) -> None:
        where = f"{path}"
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason


def data_file(name: str) -> Path:
    """Path of a bundled data file; works for editable and wheel installs alike."""
    return Path(str(resources.files("data").joinpath(name)))


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", **kwargs)  # type: ignore[call-overload, no-any-return]


# --- GB/T 4754-2017 -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_industries() -> pd.DataFrame:
    """GB/T 4754-2017: code, name, level (门类/大类/中类/小类), parent."""
    return _read_csv(data_file("gbt4754_2017.csv"))


@lru_cache(maxsize=1)
def industry_names() -> dict[str, str]:
    df = load_industries()
    return dict(zip(df["code"], df["name"], strict=True))


@lru_cache(maxsize=1)
def numeric_industry_codes() -> frozenset[str]:
    """The 2-4 digit codes (大类, 中类, 小类); 门类 letters are not firm codes."""
    return frozenset(c for c in industry_names() if c.isdigit())


def is_industry_code(code: str) -> bool:
    return code in numeric_industry_codes()


def industry_path(code: str) -> list[str]:
    """``"2710"`` → ``["27", "271", "2710"]``: the code and its ancestors below the 门类."""
    return [code[:n] for n in (2, 3, 4) if n <= len(code)]


def industry_label(code: str) -> str:
    return industry_names().get(code, code)


# --- counties -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_counties() -> pd.DataFrame:
    df = _read_csv(data_file("jjj_counties.csv"))
    for col in (S.LAT, S.LNG):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


@lru_cache(maxsize=1)
def county_adcodes() -> frozenset[str]:
    return frozenset(load_counties()["adcode"])


@lru_cache(maxsize=1)
def beijing_districts() -> pd.DataFrame:
    """Beijing's districts with coordinates and firm counts (the origin of relocations)."""
    df = _read_csv(data_file("beijing_districts.csv"))
    for col in ("lat", "lng", "legal_entity_units"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


@lru_cache(maxsize=1)
def _district_lookup() -> dict[str, tuple[str, float, float]]:
    out: dict[str, tuple[str, float, float]] = {}
    for row in beijing_districts().itertuples():
        hit = (str(row.adcode), float(row.lat), float(row.lng))  # type: ignore[arg-type]
        name = str(row.district)
        for key in (name, str(row.adcode), name.removesuffix("区")):
            out[key] = hit
    return out


def resolve_district(value: str) -> tuple[str, float, float] | None:
    """A Beijing district given by name (海淀区 or 海淀) or adcode → (adcode, lat, lng)."""
    return _district_lookup().get(value.strip())


# --- geography ------------------------------------------------------------------------------


def haversine_km(
    lat1: np.ndarray | float, lng1: np.ndarray | float, lat2: np.ndarray | float, lng2: np.ndarray | float
) -> np.ndarray:
    """Great-circle distance in km; vectorised because batch matching computes millions."""
    r = 6371.0088
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * r * np.arcsin(np.sqrt(a)))


# --- input-output tables --------------------------------------------------------------------


@dataclass(frozen=True)
class IOTable:
    """Direct-consumption coefficients ``a[i, j]``: input from sector i per unit output of j."""

    codes: tuple[str, ...]
    a: np.ndarray

    def index(self, code: str) -> int:
        return self.codes.index(code)


@lru_cache(maxsize=4)
def load_io42(year: int = 2020) -> IOTable:
    df = pd.read_csv(data_file("io_china_42_direct_coef.csv"), dtype={"from_code": str, "to_code": str})
    df = df[df["year"] == year]
    if df.empty:
        raise ReferenceDataError(
            data_file("io_china_42_direct_coef.csv"), None, "year", f"no rows for {year}"
        )
    codes = tuple(sorted(set(df["from_code"]) | set(df["to_code"])))
    pos = {c: i for i, c in enumerate(codes)}
    a = np.zeros((len(codes), len(codes)), dtype=np.float64)
    a[df["from_code"].map(pos).to_numpy(), df["to_code"].map(pos).to_numpy()] = df["a_total"].to_numpy()
    return IOTable(codes, a)


@lru_cache(maxsize=1)
def load_crosswalk() -> dict[str, tuple[str, str]]:
    """GB/T code (2-4 digits) → (io42 sector, io153 sector); the most specific row wins."""
    df = _read_csv(data_file("gbt_io_crosswalk.csv"))
    return {str(r.gbt_code): (str(r.io42_code), str(r.io153_code)) for r in df.itertuples()}


def io42_sector(code: str) -> str | None:
    walk = load_crosswalk()
    for prefix in reversed(industry_path(code)):
        if prefix in walk:
            return walk[prefix][0]
    return None


@lru_cache(maxsize=1)
def load_priors() -> pd.DataFrame:
    """Industry priors per 2-digit division, indexed by division (see data/SOURCES.md, section 2)."""
    df = _read_csv(data_file("industry_priors.csv"))
    for col in (
        "employees_median",
        "land_mu_per_100_employees",
        "floor_m2_per_employee",
        "talent_level",
        "beijing_ties",
        "needs_port_share",
        "relocation_pressure",
    ):
        df[col] = pd.to_numeric(df[col], errors="raise")
    return df.set_index("division")


# --- park catalogue -------------------------------------------------------------------------


def _parse_bool(path: Path, line: int, field: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes", "是"):
        return True
    if v in ("false", "0", "no", "否"):
        return False
    raise ReferenceDataError(path, line, field, f"expected true/false, got {value!r}")


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.replace("；", ";").split(";") if p.strip()]


def load_parks(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the park catalogue.

    List columns become Python lists, booleans real booleans, numbers floats.  Any bad row
    raises :class:`ReferenceDataError` naming the file, its line (header is line 1) and the field.
    """
    path = Path(path) if path is not None else data_file("parks.csv")
    if not path.exists():
        raise ReferenceDataError(path, None, None, "file not found")
    try:
        raw = _read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ReferenceDataError(path, None, None, f"cannot parse as UTF-8 CSV: {exc}") from exc
    missing = [c for c in S.PARK_COLUMNS if c not in raw.columns]
    if missing:
        raise ReferenceDataError(path, 1, missing[0], f"missing column(s): {', '.join(missing)}")
    counties = county_adcodes()
    seen: set[str] = set()
    records: list[dict[str, object]] = []
    for i, row in enumerate(raw.to_dict("records")):  # type: ignore[assignment]
        line = i + 2
        records.append(
            _validate_park_row(path, line, {str(k): str(v) for k, v in row.items()}, counties, seen)
        )
    df = pd.DataFrame.from_records(records, columns=list(S.PARK_COLUMNS))
    if df.empty:
        raise ReferenceDataError(path, None, None, "the catalogue has no parks")
    sources_path = path.with_name("park_sources.csv")
    sources = load_park_sources(sources_path, df) if sources_path.exists() else ParkSources({}, {})
    attach_provenance(df, sources)
    return df


def attach_provenance(df: pd.DataFrame, sources: ParkSources) -> None:
    """Add the ``provenance`` and ``field_sources`` columns (JSON text, so Parquet keeps them).

    The catalogue frame carries its own provenance into the model bundle and the API, so a
    served park can never lose the record of where its numbers came from.
    """
    recs = df.to_dict("records")
    df[S.PROVENANCE] = [json.dumps(sources.provenance(r), ensure_ascii=False) for r in recs]
    df[S.FIELD_SOURCES] = [
        json.dumps(
            {
                f: sources.sources[(str(r[S.PARK_ID]), f)]
                for f in S.PROVENANCE_FIELDS
                if (str(r[S.PARK_ID]), f) in sources.sources
            },
            ensure_ascii=False,
        )
        for r in recs
    ]


def park_provenance(row: Mapping[Any, object]) -> dict[str, str]:
    """A catalogue row's ``{field: level}``; rows without the column count every value estimated."""
    text = row.get(S.PROVENANCE)
    if isinstance(text, str) and text:
        return dict(json.loads(text))
    return ParkSources({}, {}).provenance(row)


def _validate_park_row(
    path: Path, line: int, row: dict[str, str], counties: frozenset[str], seen: set[str]
) -> dict[str, object]:
    def fail(field: str, reason: str) -> ReferenceDataError:
        return ReferenceDataError(path, line, field, f"{reason} (park {row.get(S.PARK_ID) or '?'})")

    out: dict[str, object] = dict(row)
    pid = row[S.PARK_ID].strip()
    if not pid:
        raise fail(S.PARK_ID, "is blank")
    if pid in seen:
        raise fail(S.PARK_ID, "duplicate park_id")
    seen.add(pid)
    for col in (S.PARK_NAME, S.PROVINCE, S.CITY, S.COUNTY, S.LEVEL, S.PLATFORM_TYPE, S.COORD_METHOD):
        if not row[col].strip():
            raise fail(col, "is blank")
    if row[S.PROVINCE] not in S.PROVINCES:
        raise fail(S.PROVINCE, f"{row[S.PROVINCE]!r} is not one of {', '.join(S.PROVINCES)}")
    if row[S.LEVEL] not in S.PARK_LEVELS:
        raise fail(S.LEVEL, f"{row[S.LEVEL]!r} is not one of {', '.join(S.PARK_LEVELS)}")
    if row[S.PLATFORM_TYPE] not in S.PLATFORM_TYPES:
        raise fail(S.PLATFORM_TYPE, f"{row[S.PLATFORM_TYPE]!r} is not a known platform type")
    adcode = row[S.ADCODE].strip()
    if not adcode:
        raise fail(S.ADCODE, "is missing")
    if not (len(adcode) == 6 and adcode.isdigit()):
        raise fail(S.ADCODE, f"{adcode!r} is not a 6-digit county code")
    if adcode not in counties:
        raise fail(S.ADCODE, f"{adcode} is not a Beijing/Tianjin/Hebei county in jjj_counties.csv")
    for col in S.PARK_NUMERIC_COLUMNS:
        value = row[col].strip()
        if not value:
            # unknown is unknown: NaN, never a template number
            if col in S.PARK_REQUIRED_NUMERIC:
                raise fail(col, "is blank; every park needs its point and the distance computed from it")
            out[col] = math.nan
            continue
        try:
            num = float(value)
        except ValueError:
            raise fail(col, f"{value!r} is not a number") from None
        if not math.isfinite(num) or (num < 0 and col not in (S.LAT, S.LNG)):
            raise fail(col, f"{value!r} is out of range")
        out[col] = num
    lat, lng = float(out[S.LAT]), float(out[S.LNG])  # type: ignore[arg-type]
    if not (S.REGION_LAT[0] <= lat <= S.REGION_LAT[1]):
        raise fail(S.LAT, f"{lat} is outside Beijing-Tianjin-Hebei")
    if not (S.REGION_LNG[0] <= lng <= S.REGION_LNG[1]):
        raise fail(S.LNG, f"{lng} is outside Beijing-Tianjin-Hebei")
    if float(out[S.TALENT_POOL]) > 1:  # type: ignore[arg-type]
        raise fail(S.TALENT_POOL, "must be an index in [0, 1]")
    for col in S.SUBSIDY_COLUMNS:
        level = float(out[col])  # type: ignore[arg-type]
        if not math.isnan(level) and level not in (0.0, 1.0, 2.0, 3.0):
            raise fail(col, "must be a level 0, 1, 2 or 3")
    grade = float(out[S.LAND_GRADE])  # type: ignore[arg-type]
    if not math.isnan(grade) and not (1 <= grade <= 15 and grade == int(grade)):
        raise fail(S.LAND_GRADE, "must be a grade 1-15 of the national minimum-price standard")
    for col in S.PARK_BOOL_COLUMNS:
        out[col] = _parse_bool(path, line, col, row[col]) if row[col].strip() else None
    pollution = row[S.MAX_POLLUTION_LEVEL].strip()
    if pollution and pollution not in S.POLLUTION_LEVELS:
        raise fail(S.MAX_POLLUTION_LEVEL, f"{pollution!r} is not low/medium/high")
    out[S.MAX_POLLUTION_LEVEL] = pollution or None
    for col in (S.INDUSTRY_CODES, S.RESTRICTED_INDUSTRIES, S.DESIGNATED_INDUSTRIES):
        codes = _split(row[col])
        for code in codes:
            if not is_industry_code(code):
                raise fail(col, f"unknown GB/T 4754-2017 industry code {code!r}")
        out[col] = codes
    if not out[S.INDUSTRY_CODES]:
        raise fail(S.INDUSTRY_CODES, "needs at least one industry code")
    functions = _split(row[S.DESIGNATED_FUNCTIONS])
    for fn in functions:
        if fn not in S.FUNCTIONS:
            raise fail(S.DESIGNATED_FUNCTIONS, f"{fn!r} is not one of {', '.join(S.FUNCTIONS)}")
    out[S.DESIGNATED_FUNCTIONS] = functions
    out[S.SOURCES] = _split(row[S.SOURCES])
    if not row[S.SOURCE_URL].strip():
        raise fail(S.SOURCE_URL, "every park needs a source")
    out[S.PARK_ID] = pid
    out[S.ADCODE] = adcode
    return out


@dataclass(frozen=True)
class ParkSources:
    """Provenance per (park, field) from ``park_sources.csv``: level and the cited pages."""

    level: dict[tuple[str, str], str]
    sources: dict[tuple[str, str], list[dict[str, str]]]

    def provenance(self, park: Mapping[Any, object]) -> dict[str, str]:
        """``{field: official|sourced|estimated|unknown}`` for every reported field of a park
        (``provided`` is set only by :func:`features.corrections.apply_corrections`).

        A blank value is unknown whatever the sources say; a value with no provenance row is
        estimated (the loader refuses such rows, so this only covers hand-built test parks).
        """
        pid = str(park[S.PARK_ID])
        out: dict[str, str] = {}
        for field in S.PROVENANCE_FIELDS:
            if is_blank(park.get(field)):
                out[field] = "unknown"
            else:
                out[field] = self.level.get((pid, field), "estimated")
        return out


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, (list, tuple, str)) and len(value) == 0


_PROVENANCE_RANK = {name: i for i, name in enumerate(S.PROVENANCE_LEVELS)}


def load_park_sources(path: str | Path | None = None, parks: pd.DataFrame | None = None) -> ParkSources:
    """Read and check ``park_sources.csv``: every row names a known park, field, level and class.

    With ``parks`` given, every non-blank reported value must have a provenance row, so that no
    number reaches an officer without saying where it came from.
    """
    path = Path(path) if path is not None else data_file("park_sources.csv")
    if not path.exists():
        raise ReferenceDataError(path, None, None, "file not found")
    raw = _read_csv(path)
    cols = ("park_id", "field", "provenance", "source_url", "source_title", "source_class")
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise ReferenceDataError(path, 1, missing[0], f"missing column(s): {', '.join(missing)}")
    known = set(parks[S.PARK_ID]) if parks is not None else None
    level: dict[tuple[str, str], str] = {}
    sources: dict[tuple[str, str], list[dict[str, str]]] = {}
    for i, row in enumerate(raw.itertuples(index=False)):
        line = i + 2
        pid, field, prov, cls = str(row.park_id), str(row.field), str(row.provenance), str(row.source_class)
        if known is not None and pid not in known:
            raise ReferenceDataError(path, line, "park_id", f"{pid!r} is not a catalogue park")
        if field not in S.PROVENANCE_FIELDS:
            raise ReferenceDataError(path, line, "field", f"{field!r} is not a reported catalogue field")
        if prov not in S.PROVENANCE_LEVELS or prov == S.PROVIDED:
            # provided values live in the database and are laid over at retraining, never here
            levels = tuple(lv for lv in S.PROVENANCE_LEVELS if lv != S.PROVIDED)
            raise ReferenceDataError(path, line, "provenance", f"{prov!r} is not one of {levels}")
        if cls not in S.SOURCE_CLASSES:
            raise ReferenceDataError(path, line, "source_class", f"{cls!r} is not one of {S.SOURCE_CLASSES}")
        key = (pid, field)
        # several sources for one value: the strongest level stands
        if key not in level or _PROVENANCE_RANK[prov] < _PROVENANCE_RANK[level[key]]:
            level[key] = prov
        if str(row.source_url).strip():
            sources.setdefault(key, []).append(
                {"url": str(row.source_url), "title": str(row.source_title), "source_class": cls}
            )
    out = ParkSources(level, sources)
    if parks is not None:
        for j, park in enumerate(parks.to_dict("records")):
            pid = str(park[S.PARK_ID])
            for field in S.PROVENANCE_FIELDS:
                if not is_blank(park.get(field)) and (pid, field) not in level:
                    raise ReferenceDataError(
                        path,
                        None,
                        field,
                        f"park {pid} (catalogue line {j + 2}) has a value but no provenance row",
                    )
    return out


def _strip(value: str, suffixes: tuple[str, ...]) -> str:
    v = value.strip()
    for suffix in suffixes:
        if v.endswith(suffix) and len(v) > len(suffix) + 1:
            return v[: -len(suffix)]
    return v


def filter_parks(
    parks: pd.DataFrame,
    province: str | None = None,
    city: str | None = None,
    county: str | None = None,
    industry: str | None = None,
    function: str | None = None,
    platform: str | None = None,
) -> pd.DataFrame:
    """The catalogue rows an officer asked for; names match with or without 省/市/县/区."""
    keep = np.ones(len(parks), dtype=bool)
    if province:
        keep &= parks[S.PROVINCE].map(lambda v: _strip(v, ("省", "市"))).to_numpy() == _strip(
            province, ("省", "市")
        )
    if city:
        keep &= parks[S.CITY].map(lambda v: _strip(v, ("市",))).to_numpy() == _strip(city, ("市",))
    if county:
        by_code = parks[S.ADCODE].to_numpy() == county.strip()
        suffixes = ("自治县", "县", "区", "市")
        by_name = parks[S.COUNTY].map(lambda v: _strip(v, suffixes)).to_numpy() == _strip(county, suffixes)
        keep &= by_code | by_name
    if industry:
        code = industry.strip()
        keep &= (
            parks[S.INDUSTRY_CODES]
            .map(lambda cs: any(code.startswith(c) or c.startswith(code) for c in cs))
            .to_numpy()
        )
    if function:
        keep &= parks[S.DESIGNATED_FUNCTIONS].map(lambda fs: function.strip() in fs).to_numpy()
    if platform:
        p = platform.strip()
        keep &= (parks[S.PLATFORM_TYPE].to_numpy() == p) | (
            parks[S.PLATFORM_GROUP].astype(str).to_numpy() == p
        )
    return parks[keep].reset_index(drop=True)


def provenance_table(parks: pd.DataFrame) -> pd.DataFrame:
    """Per field, how many parks are official / sourced / provided / estimated / unknown."""
    rows = []
    provs = [park_provenance(p) for p in parks.to_dict("records")]
    n = len(provs)
    for field in S.PROVENANCE_FIELDS:
        counts = {lvl: sum(1 for p in provs if p[field] == lvl) for lvl in S.PROVENANCE_LEVELS}
        rows.append({"field": field, **counts, "n": n})
    return pd.DataFrame(rows)


def _none_if_blank(value: object) -> object:
    return None if is_blank(value) and not isinstance(value, list) else value


def park_to_profile(row: dict[str, object]) -> S.ParkProfile:
    """Catalogue row → the API's park model: subsidies gathered, unknowns as ``None``, provenance."""

    def level(col: str) -> int | None:
        v = row[col]
        return None if is_blank(v) else int(v)  # type: ignore[call-overload]

    subsidies = {item: level(f"subsidy_{item}") for item in S.SUBSIDY_ITEMS}
    drop = set(S.SUBSIDY_COLUMNS) | {S.KEEPS_BEIJING_REGISTRATION}
    data: dict[str, object] = {
        k: _none_if_blank(v) for k, v in row.items() if k not in drop and k in S.PARK_COLUMNS
    }
    for col in S.PARK_LIST_COLUMNS:
        data[col] = [str(x) for x in row[col]]  # type: ignore[attr-defined]
    reg = row[S.KEEPS_BEIJING_REGISTRATION]
    data["subsidies"] = {**subsidies, "keeps_beijing_registration": None if is_blank(reg) else bool(reg)}
    port = row[S.PORT_ACCESS]
    data[S.PORT_ACCESS] = None if is_blank(port) else bool(port)
    for col in (S.LAND_GRADE, S.CAPACITY_PER_YEAR):
        data[col] = level(col)
    data[S.PROVENANCE] = park_provenance(row)
    fs = row.get(S.FIELD_SOURCES)
    data[S.FIELD_SOURCES] = json.loads(fs) if isinstance(fs, str) and fs else {}
    data[S.REPRINT_ONLY] = sorted(
        f
        for f, found in data[S.FIELD_SOURCES].items()  # type: ignore[attr-defined]
        if found and all(x["source_class"] == "reprint" for x in found)
    )
    return S.ParkProfile.model_validate(data)


def parks_json(df: pd.DataFrame) -> str:
    return json.dumps(
        [park_to_profile({str(k): v for k, v in r.items()}).model_dump() for r in df.to_dict("records")],
        ensure_ascii=False,
        indent=2,
    )

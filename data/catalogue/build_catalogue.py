#!/usr/bin/env python3
"""Build the parkmatch park catalogue (parks.csv + park_sources.csv).

Standalone and deterministic: reads only ./inputs/ and ./industry_phrases.csv next to this
file, writes ./parks.csv, ./park_sources.csv and ./provenance_summary.csv.
Rules are documented in README.md (same folder).  Run:  python3 build_catalogue.py
"""
from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
INP = HERE / "inputs"
TIANANMEN = (39.9087, 116.3975)
BBOX_LAT = (36.0, 42.7)
BBOX_LNG = (113.4, 119.9)
R_EARTH = 6371.0088
# No stored copy of the NDRC announcement page was found; the official values are read from the
# extraction in kaiwulaw/china-industrial-zones-atlas (data/enriched.csv, commit 358d79bb), so the
# provenance is "official" (content) but the source_class is "reprint" (the copy).
OFFICIAL_CAT_URL = "https://github.com/kaiwulaw/china-industrial-zones-atlas/blob/358d79bb303c1cadbc98ef9244d5180f79184f5f/data/enriched.csv"
OFFICIAL_CAT_TITLE = "《中国开发区审核公告目录》(2018年版)（国家发展改革委等6部门 公告2018年第4号）, as extracted in china-industrial-zones-atlas"
ATLAS_URL = "https://github.com/kaiwulaw/china-industrial-zones-atlas"
ATLAS_TITLE = "china-industrial-zones-atlas data/enriched.csv (AMap geocode of the 2018 catalogue, commit 358d79bb)"
COV_URL = ATLAS_URL
COV_TITLE = "china-industrial-zones-atlas data/analysis_units.csv (WorldPop 2020, VIIRS 2024, GHS-BUILT 2020; 5 km buffer)"
CPCA_URL = "https://github.com/DQinYuan/chinese_province_city_area_mapper"
CPCA_TITLE = "cpca 0.5.5 adcodes.csv county-seat coordinates (via jjj_counties.csv)"

# value columns whose provenance is tracked (one park_sources row per non-blank value)
DECISION_COLS = [
    "lat", "lng", "industry_codes", "approved_area_ha", "approved_date", "available_land_mu",
    "land_price_cny_per_mu", "talent_pool", "subsidy_tax", "subsidy_land", "subsidy_rent",
    "subsidy_talent", "subsidy_equipment", "subsidy_rnd", "keeps_beijing_registration",
    "rail_minutes_to_beijing", "distance_km_to_beijing", "port_access", "restricted_industries",
    "max_pollution_level", "capacity_per_year", "designated_functions", "designated_industries",
    "land_grade", "land_price_floor_cny_per_mu",
]
MIN_PARKS = 300
# coord_method values that come from a searched point (inputs/coordinate_sources.csv `method`, or extra_parks.csv)
SOURCED_COORD_METHODS = ("sourced_point", "stated_coordinates", "town_centroid", "landmark")
CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
MU_M2 = 10000 / 15  # 1 亩 = 666.67 m²
TEMPLATE_COLS = [
    "available_land_mu", "land_price_cny_per_mu", "talent_pool", "subsidy_tax", "subsidy_land",
    "subsidy_rent", "subsidy_talent", "subsidy_equipment", "subsidy_rnd", "keeps_beijing_registration",
    "rail_minutes_to_beijing", "port_access", "max_pollution_level", "capacity_per_year",
    "restricted_industries",
]
EXTRA_COLS = ["park_id", "name", "province", "county", "adcode", "county_basis", "level", "platform_type",
              "leading_industries", "industry_codes", "industry_basis", "lat", "lng", "coord_method",
              "coord_source_url", "coord_source_title", "source_url", "source_title", "source_class",
              "sources", "note"]
LEADING_COLS = ["park_id", "leading_industries", "codes", "basis", "source_url", "source_title", "source_class",
                "evidence"]
PLATFORM_TYPES = {"economic_development_zone", "industrial_park", "high_tech_zone", "bonded_zone", "co_built_park",
                  "concentrated_receiving_area", "new_area", "strategic_cooperation_zone", "innovation_center",
                  "trade_market", "data_center_base", "logistics_hub", "free_trade_zone", "theme_town"}
WEAK_DOMAINS = ("lunwentd.com", "dingzhoudaily.com", "github.com", "githubusercontent", "huiruisoft.com")
OFFICIAL_SITE_HINTS = (".gov.cn",)
OFFICIAL_MEDIA_HINTS = ("xinhuanet.com", "news.cn", "people.com.cn", "cctv.com", "cnr.cn", "ce.cn",
                        "hebei.com.cn", "bjnews.com.cn", "chinanews.com", "gmw.cn", "enorth.com.cn",
                        "hbjjrb.com", "jjckb.xinhuanet.com", "epaper.", "investheb.com", "cri.cn")
PORTS = [(38.98, 117.78), (38.32, 117.87), (39.21, 119.00), (38.97, 118.50), (39.92, 119.62)]


def hav(lat1, lng1, lat2, lng2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(a))


def source_class(url: str) -> str:
    u = (url or "").lower()
    if any(w in u for w in WEAK_DOMAINS):
        return "reprint"
    if any(h in u for h in OFFICIAL_SITE_HINTS):
        return "official_site"
    if any(h in u for h in OFFICIAL_MEDIA_HINTS):
        return "official_media"
    return "reprint"


def read_optional(path: Path, cols: list[str]) -> pd.DataFrame:
    """Read a hand-made input that may be absent or still being written (missing columns -> blank)."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=cols)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for c in cols:
        if c not in df.columns:
            df[c] = ""
    return df


def grade_int(g: str):
    """'四等' / '十一等' / '4' -> int; None when unparseable."""
    g = (g or "").strip().replace("等", "").replace("级", "")
    if g.isdigit():
        return int(g)
    if not g or any(ch not in CN_NUM for ch in g):
        return None
    if g == "十":
        return 10
    if g.startswith("十"):
        return 10 + CN_NUM[g[1]]
    if len(g) == 1:
        return CN_NUM[g]
    if len(g) == 2 and g[1] == "十":
        return CN_NUM[g[0]] * 10
    if len(g) == 3 and g[1] == "十":
        return CN_NUM[g[0]] * 10 + CN_NUM[g[2]]
    return None


def fnum(x):
    try:
        v = float(str(x).replace(",", "").strip())
        return v if math.isfinite(v) else None
    except ValueError:
        return None


# ---------------------------------------------------------------- industry phrases
def load_phrases():
    t = pd.read_csv(HERE / "industry_phrases.csv", dtype=str)
    return dict(zip(t.phrase, t.codes))


def split_industries(text: str) -> list[str]:
    return [p for p in re.split(r"[、，,；;。/\s]+", text or "") if p]


def phrase_codes(text: str, table: dict) -> list[str]:
    """Exact phrase lookup; else the longest table phrase contained in the token."""
    out: list[str] = []
    keys = sorted(table, key=len, reverse=True)
    for tok in split_industries(text):
        codes = table.get(tok)
        if codes is None:
            hit = next((k for k in keys if k in tok), None)
            codes = table[hit] if hit else None
        if codes:
            for c in codes.split(";"):
                if c not in out:
                    out.append(c)
    return out


# ---------------------------------------------------------------- names
STRIP = ["河北省", "天津市", "北京市", "河北", "天津", "省级", "（", "）", "(", ")", "·", " "]


def norm(name: str) -> str:
    s = unicodedata.normalize("NFKC", str(name))
    for t in STRIP:
        s = s.replace(t, "")
    s = s.replace("经济技术开发区", "经开区").replace("经济开发区", "经开区").replace("开发区", "经开区")
    s = s.replace("高新技术产业开发区", "高新区").replace("高新技术产业经开区", "高新区")
    return s


# ---------------------------------------------------------------- land prices
GRADE_COLS = ["adcode", "county", "grade", "floor_yuan_per_m2", "floor_cny_per_mu", "source_url", "source_title",
              "source_class"]
AUCTION_COLS = ["adcode", "county", "park_hint", "date", "area_m2", "price_wan_yuan", "yuan_per_m2", "cny_per_mu",
                "land_use", "notice_id", "source_url", "source_title", "source_class"]


def parcel_cny_per_mu(a):
    v = fnum(a.cny_per_mu)
    if v is None and fnum(a.yuan_per_m2) is not None:
        v = fnum(a.yuan_per_m2) * MU_M2
    if v is None and fnum(a.price_wan_yuan) and fnum(a.area_m2):
        v = fnum(a.price_wan_yuan) * 1e4 / fnum(a.area_m2) * MU_M2
    return v


def hint_matches(hint: str, park_name: str, official: str) -> bool:
    """park_hint names the park: equal after norm(), or one contains the other (>= 4 characters)."""
    h = norm(hint)
    for n in (norm(park_name), norm(official) if official else ""):
        if not n:
            continue
        n0 = re.sub(r"（.*?）|\(.*?\)", "", n)
        if h == n or h == n0 or (len(h) >= 4 and (h in n or n0 in h)):
            return True
    return False


def land_prices(parks: pd.DataFrame, prov) -> dict:
    """land_grade + land_price_floor_cny_per_mu from inputs/land_price_grades.csv (the national standard, provenance
    official); land_price_cny_per_mu = median cny_per_mu of the parcels in inputs/land_auctions.csv whose park_hint names
    the park, else of the park's county (provenance sourced). Both files may be absent or partial."""
    grades = read_optional(INP / "land_price_grades.csv", GRADE_COLS)
    auct = read_optional(INP / "land_auctions.csv", AUCTION_COLS)
    for c in ("land_grade", "land_price_floor_cny_per_mu", "land_price_cny_per_mu"):
        parks[c] = ""
    gby = {}
    for g in grades.itertuples():
        gi = grade_int(g.grade)
        floor = fnum(g.floor_cny_per_mu)
        if floor is None and fnum(g.floor_yuan_per_m2) is not None:
            floor = fnum(g.floor_yuan_per_m2) * MU_M2
        if g.adcode and (gi is not None or floor is not None) and g.adcode not in gby:
            gby[g.adcode] = (gi, floor, g)
    # parcels: industrial use only, with a usable price
    parcels = []
    for a in auct.itertuples():
        v = parcel_cny_per_mu(a)
        if v is None or v <= 0 or not a.adcode or (a.land_use and "工业" not in a.land_use):
            continue
        parcels.append({"adcode": a.adcode, "hint": a.park_hint.strip(), "v": v, "date": a.date.strip(),
                        "url": a.source_url, "title": a.source_title, "cls": a.source_class, "id": a.notice_id})
    # a hint is assigned to the park it names, if exactly one park in that county (or anywhere) matches
    by_park: dict[str, list] = {}
    for pc in parcels:
        if not pc["hint"]:
            continue
        cand = parks[(parks.adcode == pc["adcode"])]
        hits = [r.park_id for r in cand.itertuples() if hint_matches(pc["hint"], r.name, r.official_name_2018)]
        if len(hits) == 1:
            by_park.setdefault(hits[0], []).append(pc)
    by_county: dict[str, list] = {}
    for pc in parcels:
        by_county.setdefault(pc["adcode"], []).append(pc)

    def median_row(lst):
        lst = sorted(lst, key=lambda x: (x["v"], x["date"], x["id"]))
        med = float(np.median([x["v"] for x in lst]))
        mid = lst[(len(lst) - 1) // 2]  # the (lower) median parcel supplies the URL
        dates = sorted(x["date"] for x in lst if x["date"])
        rng = (dates[0] if dates[0] == dates[-1] else f"{dates[0]}–{dates[-1]}") if dates else "date n/a"
        return med, mid, rng

    n_park = n_county = 0
    for i, r in parks.iterrows():
        if r.adcode in gby:
            gi, floor, g = gby[r.adcode]
            title = f"{g.source_title} — {g.county} {g.grade}"
            cls = g.source_class or None
            if gi is not None:
                parks.at[i, "land_grade"] = str(gi)
                prov(r.park_id, "land_grade", "official", g.source_url, title, cls)
            if floor is not None:
                parks.at[i, "land_price_floor_cny_per_mu"] = str(int(round(floor)))
                prov(r.park_id, "land_price_floor_cny_per_mu", "official", g.source_url,
                     title + f" (floor {g.floor_yuan_per_m2} 元/m² × 666.67)", cls)
        lst, scope = by_park.get(r.park_id), "park"
        if not lst:
            lst, scope = by_county.get(r.adcode), "county"
        if lst:
            med, mid, rng = median_row(lst)
            parks.at[i, "land_price_cny_per_mu"] = str(int(round(med)))
            what = f"park_hint naming this park" if scope == "park" else f"county {r.adcode} {r.county}"
            prov(r.park_id, "land_price_cny_per_mu", "sourced", mid["url"],
                 f"median of {len(lst)} industrial parcel(s) ({what}; {rng}) from inputs/land_auctions.csv; "
                 f"median parcel: {mid['title']} [{mid['id']}]", mid["cls"] or None)
            n_park += scope == "park"
            n_county += scope == "county"
    return {"grades": len(gby), "parcels": len(parcels), "park_level": n_park, "county_level": n_county}


# ---------------------------------------------------------------- main
def main():
    parks = pd.read_csv(INP / "parks_current.csv", dtype=str, keep_default_na=False)
    zones = pd.read_csv(INP / "dev_zones_2018_jjj.csv", dtype=str, keep_default_na=False)
    counties = pd.read_csv(INP / "jjj_counties.csv", dtype=str, keep_default_na=False)
    cov = pd.read_csv(INP / "county_covariates_jjj.csv")
    desig = pd.read_csv(INP / "designations.csv", dtype=str, keep_default_na=False)
    coordfix = read_optional(INP / "coordinate_sources.csv",
                             ["park_id", "lat", "lng", "source_url", "source_title", "method"])
    extra = read_optional(INP / "extra_parks.csv", EXTRA_COLS)
    phr = load_phrases()
    prov_rows: list[dict] = []

    def prov(pid, field, p, url, title, cls=None):
        prov_rows.append({"park_id": pid, "field": field, "provenance": p, "source_url": url,
                          "source_title": title, "source_class": cls or source_class(url)})

    cseat = counties[counties.lat != ""].copy()
    cseat["latf"] = cseat.lat.astype(float)
    cseat["lngf"] = cseat.lng.astype(float)
    seat_by_code = {r.adcode: (r.latf, r.lngf) for r in cseat.itertuples()}

    # ---------- (b) match existing rows to 2018 zones by normalised name
    zt = zones.copy()
    zt["n"] = zt.name.map(norm)
    by_norm = {}
    for r in zt.itertuples():
        by_norm.setdefault(r.n, []).append(r.zone_code)
    manual = {}  # park_id -> zone_code overrides (see README)
    mf = INP / "manual_matches.csv"
    if mf.exists():
        m = pd.read_csv(mf, dtype=str, keep_default_na=False)
        manual = dict(zip(m.park_id, m.zone_code))
    parks["zone_code"] = ""
    for i, r in parks.iterrows():
        if r.park_id in manual:
            parks.at[i, "zone_code"] = manual[r.park_id]
            continue
        hits = by_norm.get(norm(r["name"]), [])
        if len(hits) == 1:
            parks.at[i, "zone_code"] = hits[0]
    # one zone -> at most one park: keep first (seed order), others unmatched
    dup = parks[parks.zone_code != ""].duplicated("zone_code", keep="first")
    parks.loc[dup[dup].index, "zone_code"] = ""
    parks["origin"] = "catalogue_2025"

    zi = zones.set_index("zone_code")
    # ---------- (c) add missing Tianjin/Hebei zones
    used = set(parks.zone_code) - {""}
    new = []
    tmap = {"经济技术开发区": "economic_development_zone", "经济开发区": "economic_development_zone",
            "高新技术产业开发区": "high_tech_zone", "海关特殊监管区域": "bonded_zone",
            "工业园区": "industrial_park"}
    for z in zones.itertuples():
        if z.province == "北京市" or z.zone_code in used:
            continue
        new.append({"park_id": "Z" + z.zone_code, "name": z.name, "province": z.province,
                    "level": "national" if z.approval_level == "国务院" else "provincial",
                    "platform_type": tmap.get(z.zone_type, "industrial_park"),
                    "leading_industries": z.leading_industries, "zone_code": z.zone_code,
                    "source_url": OFFICIAL_CAT_URL, "origin": "dev_zones_2018"})
    newdf = pd.DataFrame(new)
    # county for new zones: city_county text matched to a county name, else nearest county seat
    cnames = counties.copy()
    def assign_county(z):
        prov_ = z["province"]
        cc = cnames[cnames.province == prov_]
        txt = zi.loc[z["zone_code"], "city_county"]
        addr = zi.loc[z["zone_code"], "geocoded_address"]
        cand = []
        for c in cc.itertuples():
            base = re.sub(r"(自治县|新区|县|区|市)$", "", c.name)
            if len(base) >= 2 and (txt.startswith(base) or base in z["name"]):
                cand.append((c.adcode, c.name, c.prefecture, "name"))
        if len(cand) == 1:
            return cand[0]
        # geocode address mention
        for c in cc.itertuples():
            if c.name in addr and c.name not in ("市辖区",):
                if c.lat:
                    return (c.adcode, c.name, c.prefecture, "address")
        lat, lng = float(zi.loc[z["zone_code"], "lat_wgs84"]), float(zi.loc[z["zone_code"], "lng_wgs84"])
        ccs = cseat[cseat.province == prov_]
        d = ccs.apply(lambda c: hav(lat, lng, c.latf, c.lngf), axis=1)
        c = ccs.loc[d.idxmin()]
        return (c.adcode, c["name"], c.prefecture, "nearest_seat")
    if len(newdf):
        a = newdf.apply(assign_county, axis=1, result_type="expand")
        newdf["adcode"], newdf["county"], newdf["city"], newdf["county_rule"] = a[0], a[1], a[2], a[3]
        newdf.loc[newdf.province == "天津市", "city"] = "天津市"
        co = pd.read_csv(INP / "county_overrides.csv", dtype=str, keep_default_na=False)
        for o in co.itertuples():
            m = newdf.park_id == o.park_id
            newdf.loc[m, ["adcode", "county", "city", "county_rule"]] = [o.adcode, o.county, o.city, "override"]
    parks = pd.concat([parks, newdf], ignore_index=True).fillna("")

    # ---------- (c2) hand-made receiving sites that are not 2018 zones (inputs/extra_parks.csv)
    cby = counties.set_index("adcode")
    ex_rows = []
    for e in extra.itertuples():
        assert e.adcode in cby.index, ("extra_parks.csv: adcode not in jjj_counties.csv", e.park_id, e.adcode)
        c = cby.loc[e.adcode]
        assert c["name"] == e.county, ("extra_parks.csv: county name != jjj_counties.csv", e.park_id, e.county, c["name"])
        assert c["province"] == e.province, ("extra_parks.csv: province", e.park_id)
        assert e.platform_type in PLATFORM_TYPES, ("extra_parks.csv: platform_type", e.park_id, e.platform_type)
        assert e.source_url and e.source_title, ("extra_parks.csv: every row needs a source", e.park_id)
        assert e.park_id not in set(parks.park_id), ("extra_parks.csv: duplicate park_id", e.park_id)
        ex_rows.append({"park_id": e.park_id, "name": e.name, "province": e.province,
                        "city": "天津市" if e.province == "天津市" else c["prefecture"], "county": e.county,
                        "adcode": e.adcode, "level": e.level, "platform_type": e.platform_type,
                        "leading_industries": e.leading_industries, "industry_codes": e.industry_codes,
                        "source_url": e.source_url, "sources": e.sources, "origin": "extra_parks",
                        "county_rule": "extra_parks: " + e.county_basis, "note": e.note})
    if ex_rows:
        parks = pd.concat([parks, pd.DataFrame(ex_rows)], ignore_index=True).fillna("")
    exi = extra.set_index("park_id") if len(extra) else None
    # every Tianjin/Hebei zone of the 2018 catalogue is in the catalogue
    tjhe = set(zones.zone_code[zones.province != "北京市"])
    assert tjhe <= set(parks.zone_code), sorted(tjhe - set(parks.zone_code))[:5]

    # ---------- official fields from the catalogue
    parks["official_name_2018"] = ""
    parks["official_leading_industries"] = ""
    parks["approved_date"] = ""
    for i, r in parks.iterrows():
        zc = r.zone_code
        if not zc:
            continue
        z = zi.loc[zc]
        parks.at[i, "official_name_2018"] = z["name"]
        parks.at[i, "official_leading_industries"] = z["leading_industries"]
        parks.at[i, "approved_area_ha"] = z["approved_area_ha"]
        parks.at[i, "approved_date"] = z["approved_date"]
        prov(r.park_id, "approved_area_ha", "official", OFFICIAL_CAT_URL, OFFICIAL_CAT_TITLE, "reprint")
        prov(r.park_id, "approved_date", "official", OFFICIAL_CAT_URL, OFFICIAL_CAT_TITLE, "reprint")
    for i, r in parks.iterrows():
        if not r.zone_code and r.approved_area_ha:
            prov(r.park_id, "approved_area_ha", "sourced", r.source_url, "row source (seed)")

    # ---------- industry codes
    for i, r in parks.iterrows():
        est = set(r.estimated_fields.split(";")) if r.estimated_fields else set()
        if r.origin == "extra_parks":
            e = exi.loc[r.park_id]
            prov(r.park_id, "industry_codes", "sourced", e.source_url,
                 f"{e.source_title} — 主导产业 “{e.leading_industries}” ({e.industry_basis})", e.source_class or None)
        elif r.origin == "dev_zones_2018" or (r.zone_code and "industry_codes" in est):
            codes = phrase_codes(r.official_leading_industries, phr)
            parks.at[i, "industry_codes"] = ";".join(codes)
            prov(r.park_id, "industry_codes", "official", OFFICIAL_CAT_URL,
                 OFFICIAL_CAT_TITLE + " 主导产业 via industry_phrases.csv", "reprint")
        elif "industry_codes" in est:
            prov(r.park_id, "industry_codes", "estimated", r.source_url, "type/name fallback rule (SOURCES.md §1)")
        else:
            prov(r.park_id, "industry_codes", "sourced", r.source_url, "row source leading_industries via keyword table")

    # ---------- (e2) leading industries a source states for a park the catalogue had none for
    # (inputs/leading_industries.csv): the phrases become leading_industries and their codes are
    # added to the park's codes; codes that were only the type fallback are replaced by them
    est_codes = {p["park_id"] for p in prov_rows if p["field"] == "industry_codes" and p["provenance"] == "estimated"}
    for li in read_optional(INP / "leading_industries.csv", LEADING_COLS).itertuples():
        idx = parks.index[parks.park_id == li.park_id]
        assert len(idx) == 1, ("leading_industries.csv: unknown park_id", li.park_id)
        i = idx[0]
        assert parks.at[i, "leading_industries"] in ("", li.leading_industries), (
            "leading_industries.csv: the park already states leading industries", li.park_id)
        assert li.source_url and li.source_title, ("leading_industries.csv: no source", li.park_id)
        parks.at[i, "leading_industries"] = li.leading_industries
        old = [] if li.park_id in est_codes else [c for c in parks.at[i, "industry_codes"].split(";") if c]
        parks.at[i, "industry_codes"] = ";".join(dict.fromkeys(old + [c for c in li.codes.split(";") if c]))
        prov(li.park_id, "industry_codes", "sourced", li.source_url,
             f"{li.source_title} — 主导产业 “{li.leading_industries}” ({li.basis})", li.source_class or None)

    # ---------- (d) coordinates
    zpts = zones.copy()
    zpts["key"] = zpts.lng_wgs84 + "," + zpts.lat_wgs84
    shared = set(zpts.key[zpts.key.duplicated(keep=False)])
    SHARED_OK = {"G132003"}  # the shared 石家庄 point is right only for 石家庄高新区 (SOURCE.md F.1)
    fixes = []
    # searched points: inputs/coordinate_sources.csv (method column; blank = sourced_point) + extra_parks.csv
    known = set(parks.park_id)
    names = dict(zip(parks.park_id, parks["name"]))
    cands: dict[str, list[dict]] = {}
    pts = [{"park_id": c.park_id, "lat": c.lat, "lng": c.lng, "url": c.source_url, "title": c.source_title,
            "method": c.method.strip() or "sourced_point", "file": "coordinate_sources.csv"} for c in coordfix.itertuples()]
    pts += [{"park_id": e.park_id, "lat": e.lat, "lng": e.lng, "url": e.coord_source_url, "title": e.coord_source_title,
             "method": e.coord_method.strip() or "sourced_point", "file": "extra_parks.csv"}
            for e in extra.itertuples() if e.lat.strip() or e.lng.strip()]
    for d in pts:
        if d["park_id"] not in known:
            fixes.append({"park_id": d["park_id"], "name": "", "zone_code": "",
                          "rejected_geocode": f"{d['lat']},{d['lng']}", "reason": f"{d['file']}: unknown park_id"})
            continue
        cands.setdefault(d["park_id"], []).append(d)

    def check_point(d, seat):
        lat, lng = fnum(d["lat"]), fnum(d["lng"])
        if lat is None or lng is None:
            return None, ["unparseable lat/lng"]
        reason = []
        if not (BBOX_LAT[0] <= lat <= BBOX_LAT[1] and BBOX_LNG[0] <= lng <= BBOX_LNG[1]):
            reason.append("outside JJJ bbox")
        if seat and hav(lat, lng, *seat) > 60:
            reason.append(f"{hav(lat, lng, *seat):.0f} km from its county seat")
        if not d["url"].strip():
            reason.append("no source_url")
        if d["method"] not in SOURCED_COORD_METHODS:
            reason.append(f"method {d['method']!r} not in {'/'.join(SOURCED_COORD_METHODS)}")
        return (lat, lng), reason
    pz = pd.read_csv(INP / "parent_zones.csv", dtype=str, keep_default_na=False)
    parent = dict(zip(pz.park_id, pz.parent_zone_code))
    parks["coord_method"] = ""
    for i, r in parks.iterrows():
        pid = r.park_id
        seat = seat_by_code.get(r.adcode)
        method = None
        used = None
        for d in cands.get(pid, []):
            pt, reason = check_point(d, seat)
            if reason:
                fixes.append({"park_id": pid, "name": r["name"], "zone_code": r.zone_code,
                              "rejected_geocode": f"{d['lat']},{d['lng']}", "reason": f"{d['file']}: " + "; ".join(reason)})
            elif used is None:
                used = (pt, d)
        if used:
            (lat, lng), d = used
            method = d["method"]
            t = d["title"] + ("" if method == "sourced_point" else f" [{method}]")
            prov(pid, "lat", "sourced", d["url"], t)
            prov(pid, "lng", "sourced", d["url"], t)
        elif r.zone_code or pid in parent:
            zc = r.zone_code or parent[pid]
            z = zi.loc[zc]
            lat, lng = float(z.lat_wgs84), float(z.lng_wgs84)
            reason = []
            if not (BBOX_LAT[0] <= lat <= BBOX_LAT[1] and BBOX_LNG[0] <= lng <= BBOX_LNG[1]):
                reason.append("outside JJJ bbox")
            if z.coord_suspect == "1":
                reason.append("coord_suspect")
            if z.geocode_precision in ("省", "市", "区县") or z.geocode_status == "city_only":
                reason.append(f"geocode precision {z.geocode_precision or z.geocode_status}")
            if (z.lng_wgs84 + "," + z.lat_wgs84) in shared and zc not in SHARED_OK:
                reason.append("point shared with other zones")
            near_seat = min((hav(lat, lng, a, b) for a, b in seat_by_code.values()), default=99)
            if near_seat < 0.5:
                reason.append("point is a county seat")
            if seat and hav(lat, lng, *seat) > 60:
                reason.append(f"{hav(lat, lng, *seat):.0f} km from its county seat")
            if not reason and not r.zone_code:
                method = "parent_zone_geocode"
                t = ATLAS_TITLE + f" — point of containing zone {zc} (inputs/parent_zones.csv)"
                prov(pid, "lat", "estimated", ATLAS_URL, t, "reprint")
                prov(pid, "lng", "estimated", ATLAS_URL, t, "reprint")
            elif not reason:
                method = "zone_geocode"
                prov(pid, "lat", "sourced", ATLAS_URL, ATLAS_TITLE, "reprint")
                prov(pid, "lng", "sourced", ATLAS_URL, ATLAS_TITLE, "reprint")
            elif r.zone_code:
                fixes.append({"park_id": pid, "name": r["name"], "zone_code": r.zone_code,
                              "rejected_geocode": f"{lat},{lng}", "reason": "; ".join(reason)})
        if method is None:
            if seat is None:
                lat, lng = float(r.lat), float(r.lng)  # 定州/辛集/雄安 special points of the old catalogue
                method = "legacy_estimate"
            else:
                lat, lng = seat
                method = "county_seat"
            prov(pid, "lat", "estimated", CPCA_URL, CPCA_TITLE + f" ({method})", "reprint")
            prov(pid, "lng", "estimated", CPCA_URL, CPCA_TITLE + f" ({method})", "reprint")
        parks.at[i, "lat"], parks.at[i, "lng"] = f"{lat:.6f}", f"{lng:.6f}"
        parks.at[i, "coord_method"] = method
        d = hav(lat, lng, *TIANANMEN)
        parks.at[i, "distance_km_to_beijing"] = f"{d:.1f}"
        pt_sourced = used is not None
        durl = used[1]["url"] if pt_sourced else (ATLAS_URL if "zone_geocode" in method else CPCA_URL)
        prov(pid, "distance_km_to_beijing", "sourced" if (pt_sourced or method == "zone_geocode") else "estimated",
             durl, "derived: haversine from (lat,lng) to Tiananmen 39.9087N 116.3975E, R=6371.0088 km",
             source_class(durl) if pt_sourced else "reprint")

    # ---------- (e) unknown is unknown: drop template values
    sourced_override = {  # (park_id, field): (url, title)  values not from a template (SOURCES.md §1)
        ("HE082", "keeps_beijing_registration"): ("http://www.investheb.com/info.php?id=6982", "河北日报 2018 (investheb.com): 药品生产异地延伸监管"),
        ("HE124", "subsidy_rent"): ("http://cz.hebei.com.cn/system/2018/03/28/018697622.shtml", "长城网 2018: 租金、服务费用优惠减免"),
        ("HE127", "subsidy_rent"): ("", "白沟大红门国际服装城 免五年租金 (2014), row source_url"),
        ("HE076", "subsidy_tax"): ("", "承德 大数据专项资金 ≥5000万元/年 + 财税扶持, row source_url"),
    }
    capacity_derived = {"河北雄安新区": 1, "曹妃甸协同发展示范区": 1, "京津冀·沧州生物医药产业园": 1,
                        "天津滨海—中关村科技园": 1, "雄安新区中关村科技园": 1, "香河机器人产业港": 1}
    for i, r in parks.iterrows():
        est = set(r.estimated_fields.split(";")) if r.estimated_fields else set()
        for col in TEMPLATE_COLS:
            if r.origin in ("dev_zones_2018", "extra_parks"):
                parks.at[i, col] = ""
                continue
            key = (r.park_id, col)
            if key in sourced_override:
                url, title = sourced_override[key]
                prov(r.park_id, col, "sourced", url or r.source_url, title)
                continue
            if col == "capacity_per_year" and any(r["name"].startswith(k) for k in capacity_derived):
                prov(r.park_id, col, "estimated", r.source_url,
                     "derived: sourced cumulative intake / years since opening (SOURCES.md §1 table)")
                continue
            if col in est or col in ("keeps_beijing_registration",):
                parks.at[i, col] = ""
            elif r[col] != "":
                prov(r.park_id, col, "sourced", r.source_url, "row source (not flagged estimated)")

    # keeps_beijing_registration: true only where 异地监管 is sourced; Beijing parks are not 异地
    for i, r in parks.iterrows():
        if (r.park_id, "keeps_beijing_registration") in sourced_override:
            parks.at[i, "keeps_beijing_registration"] = "true"
        elif r.province == "北京市":
            parks.at[i, "keeps_beijing_registration"] = "false"
            prov(r.park_id, "keeps_beijing_registration", "estimated", "",
                 "rule: park is inside Beijing, so no 异地监管 arrangement applies", "reprint")

    # ---------- (e2) land prices: national floor (grade) per county + median of sourced industrial parcels
    land_stats = land_prices(parks, prov)

    # talent/labour proxy from county covariates (nearest GADM centroid, documented formula)
    cov = cov.copy()
    feats = {"pop_density_buffer_mean": "pop", "nightlights_2024": "nl", "built_2020_buffer_mean": "bu"}
    for c, s in feats.items():
        cov["r_" + s] = np.log1p(cov[c].astype(float)).rank(pct=True)
    cov["talent"] = cov[["r_pop", "r_nl", "r_bu"]].mean(axis=1)
    clat, clng = cov.latitude_wgs84.to_numpy(), cov.longitude_wgs84.to_numpy()
    parks["covariate_unit"] = ""
    for i, r in parks.iterrows():
        lat, lng = float(r.lat), float(r.lng)
        d = [hav(lat, lng, a, b) for a, b in zip(clat, clng)]
        j = int(np.argmin(d))
        parks.at[i, "talent_pool"] = f"{cov.talent.iloc[j]:.3f}"
        parks.at[i, "covariate_unit"] = f"{cov.county_gid_3.iloc[j]} {cov.county_name_3.iloc[j]} ({d[j]:.0f} km)"
        prov(r.park_id, "talent_pool", "estimated", COV_URL, COV_TITLE + " — formula in README", "reprint")
        # rail minutes from distance
        dist = float(r.distance_km_to_beijing)
        parks.at[i, "rail_minutes_to_beijing"] = str(int(round(15 + 0.5 * dist)))
        prov(r.park_id, "rail_minutes_to_beijing", "estimated", "", "formula 15 + 0.5 × distance_km (README)", "reprint")
        # port access recomputed from coordinates
        pa = any(hav(lat, lng, a, b) <= 50 for a, b in PORTS)
        parks.at[i, "port_access"] = "true" if pa else "false"
        prov(r.park_id, "port_access", "estimated", "", "rule: ≤50 km from a listed seaport point (README)", "reprint")

    # ---------- (f) designated functions
    parks["designated_functions"] = ""
    parks["designated_industries"] = ""
    parks["designated_note"] = ""
    for d in desig.itertuples():
        idx = parks.index[parks.park_id == d.park_id]
        if len(idx) == 0:
            raise SystemExit(f"designations.csv: unknown park_id {d.park_id}")
        i = idx[0]
        for col, val in (("designated_functions", d.designated_functions),
                         ("designated_industries", d.designated_industries)):
            old = parks.at[i, col]
            merged = [x for x in (old.split(";") if old else []) + val.split(";") if x]
            parks.at[i, col] = ";".join(dict.fromkeys(merged))
        parks.at[i, "designated_note"] = "；".join(x for x in (parks.at[i, "designated_note"], d.designated_note) if x)
        for col in ("designated_functions", "designated_industries"):
            prov(d.park_id, col, "sourced", d.source_url, d.source_title, d.source_class)

    # ---------- (f2) platform types set by a source (inputs/platform_types.csv): a themed
    # cultural or tourism town is not the business district around it
    for t in pd.read_csv(INP / "platform_types.csv", dtype=str, keep_default_na=False).itertuples():
        idx = parks.index[parks.park_id == t.park_id]
        assert len(idx) == 1, ("platform_types.csv: unknown park_id", t.park_id)
        assert t.platform_type in PLATFORM_TYPES, ("platform_types.csv: platform_type", t.park_id, t.platform_type)
        i = idx[0]
        parks.at[i, "platform_type"] = t.platform_type
        parks.at[i, "note"] = "；".join(x for x in (parks.at[i, "note"], f"类型{t.platform_type}：{t.basis}（{t.source_title}，{t.source_url}）") if x)

    # ---------- output
    out_cols = ["park_id", "name", "name_en", "province", "city", "county", "adcode", "lat", "lng",
                "coord_method", "level", "platform_type", "platform_group", "zone_code", "official_name_2018",
                "leading_industries", "official_leading_industries", "industry_codes", "approved_area_ha",
                "approved_date", "available_land_mu", "land_grade", "land_price_floor_cny_per_mu", "land_price_cny_per_mu", "talent_pool",
                "subsidy_tax", "subsidy_land", "subsidy_rent", "subsidy_talent", "subsidy_equipment",
                "subsidy_rnd", "keeps_beijing_registration", "rail_minutes_to_beijing",
                "distance_km_to_beijing", "port_access", "restricted_industries", "max_pollution_level",
                "capacity_per_year", "designated_functions", "designated_industries", "designated_note",
                "county_rule", "covariate_unit", "source_url", "sources", "origin", "note"]
    parks["name_en"] = parks.get("name_en", "")
    parks = parks.sort_values("park_id", kind="stable")
    parks[out_cols].to_csv(HERE.parent / "parks.csv", index=False)  # the shipped catalogue
    ps = pd.DataFrame(prov_rows)
    ps = ps.drop_duplicates(["park_id", "field", "source_url"], keep="last")
    # one provenance per (park, field): later rules override earlier ones, except designated_*
    multi = ps.field.str.startswith("designated_")
    ps = pd.concat([ps[~multi].drop_duplicates(["park_id", "field"], keep="last"), ps[multi]])
    # keep only rows whose value is non-blank
    val = parks.set_index("park_id")
    ps = ps[[str(val.at[p, f]) != "" for p, f in zip(ps.park_id, ps.field)]]
    ps = ps.sort_values(["park_id", "field"])
    ps.to_csv(HERE.parent / "park_sources.csv", index=False)
    pd.DataFrame(fixes).to_csv(HERE / "coordinate_fixes.csv", index=False)

    # checks + provenance summary
    n = len(parks)
    summ = []
    for f in DECISION_COLS:
        sub = ps[ps.field == f].drop_duplicates("park_id").provenance.value_counts()
        nonblank = int((parks[f] != "").sum())
        summ.append({"field": f, "official": int(sub.get("official", 0)), "sourced": int(sub.get("sourced", 0)),
                     "estimated": int(sub.get("estimated", 0)), "unknown": n - nonblank, "n": n})
        missing = nonblank - int(sub.sum())
        assert missing == 0, (f, missing)
    numeric = ["available_land_mu", "land_price_cny_per_mu", "talent_pool", "subsidy_tax", "subsidy_land",
               "subsidy_rent", "subsidy_talent", "subsidy_equipment", "subsidy_rnd",
               "rail_minutes_to_beijing", "capacity_per_year", "approved_area_ha", "distance_km_to_beijing",
               "land_grade", "land_price_floor_cny_per_mu"]
    pv = {(p, f): v for p, f, v in zip(ps.park_id, ps.field, ps.provenance)}
    for f in numeric:
        vc = parks[f][parks[f] != ""].value_counts()
        for val, cnt in vc.items():
            if cnt / n <= 0.30:
                break
            # allowed only if every park holding the value has an official/sourced provenance row for it
            holders = parks.park_id[parks[f] == val]
            weak = [p for p in holders if pv.get((p, f)) not in ("official", "sourced")]
            assert not weak, (f, val, cnt / n, "30% rule", weak[:5])
    assert n >= MIN_PARKS, (n, MIN_PARKS)
    gb = set(pd.read_csv(INP / "gbt4754_2017.csv", dtype=str).code)
    for f in ("industry_codes", "designated_industries", "restricted_industries"):
        for pid, v in zip(parks.park_id, parks[f]):
            bad = [c for c in v.split(";") if c and c not in gb]
            assert not bad, (pid, f, bad)
    assert (parks.industry_codes != "").all()
    assert parks.park_id.is_unique
    sm = pd.DataFrame(summ)
    sm.to_csv(HERE / "provenance_summary.csv", index=False)
    write_readme_blocks(sm, pd.DataFrame(fixes), parks, ps, land_stats)
    print(f"parks: {n} ({(parks.origin=='catalogue_2025').sum()} existing, {(parks.origin=='dev_zones_2018').sum()} 2018 zones, "
          f"{(parks.origin=='extra_parks').sum()} extra); land: {land_stats}; "
          f"matched to 2018 zones: {(parks.zone_code!='').sum() - (parks.origin=='dev_zones_2018').sum()}; "
          f"park_sources rows: {len(ps)}; coordinate fixes: {len(fixes)}")
    print(pd.DataFrame(summ).to_string(index=False))


def _md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(lines)


def write_readme_blocks(sm, fixes, parks, ps, land_stats):
    """Regenerate the computed sections of README.md between marker comments."""
    rd = HERE / "README.md"
    if not rd.exists():
        return
    text = rd.read_text(encoding="utf-8")
    t = sm.copy()
    for c in ("official", "sourced", "estimated", "unknown"):
        t[c] = [f"{v} ({100 * v / n:.0f}%)" for v, n in zip(t[c], t.n)]
    counts = (f"{len(parks)} parks: {(parks.origin == 'catalogue_2025').sum()} kept from the current catalogue "
              f"({((parks.origin == 'catalogue_2025') & (parks.zone_code != '')).sum()} matched to a 2018 zone), "
              f"{(parks.origin == 'dev_zones_2018').sum()} added from the 2018 catalogue, "
              f"{(parks.origin == 'extra_parks').sum()} added from inputs/extra_parks.csv; "
              f"{len(ps)} park_sources rows; source_class: "
              + ", ".join(f"{k} {v}" for k, v in ps.source_class.value_counts().items()))
    cm = ", ".join(f"{k} {v}" for k, v in parks.coord_method.value_counts().items())
    blocks = {
        "PROVENANCE": counts + "\n\nCoordinate method: " + cm
        + f"\n\nLand price: {land_stats['grades']} county grade rows, {land_stats['parcels']} usable industrial parcels; "
        + f"land_grade for {(parks.land_grade != '').sum()} parks, land_price_floor_cny_per_mu for "
        + f"{(parks.land_price_floor_cny_per_mu != '').sum()}, land_price_cny_per_mu for "
        + f"{(parks.land_price_cny_per_mu != '').sum()} ({land_stats['park_level']} from parcels naming the park, "
        + f"{land_stats['county_level']} from the county's parcels)"
        + "\n\n" + _md(t),
        "COORDFIXES": _md(fixes) if len(fixes) else "(none)",
    }
    for k, v in blocks.items():
        a, b = f"<!-- {k} START -->", f"<!-- {k} END -->"
        if a in text and b in text:
            text = text[: text.index(a) + len(a)] + "\n" + v + "\n" + text[text.index(b):]
    rd.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

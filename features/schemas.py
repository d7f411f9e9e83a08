"""The one contract shared by the API, batch files, training and evaluation.

Every column name used anywhere in parkmatch is a constant here, so that a renamed field
breaks loudly in one place instead of silently in three.  The pydantic models describe a
single firm or park; the batch path works on the same field names column-wise (see
``features.validation``), with the same limits taken from :data:`FIRM_NUMERIC_LIMITS`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# --- enumerations ---------------------------------------------------------------------------

FUNCTIONS: tuple[str, ...] = (
    "production",
    "rnd",
    "headquarters",
    "logistics",
    "wholesale",
    "data_center",
    "back_office",
    "education",
    "healthcare",
    "research",
    "administration",  # 行政事业单位: the function the 副中心 行政办公区 is designated for
)
SUBSIDY_ITEMS: tuple[str, ...] = ("tax", "land", "rent", "talent", "equipment", "rnd")
POLLUTION_LEVELS: tuple[str, ...] = ("low", "medium", "high")
PARK_LEVELS: tuple[str, ...] = ("national", "provincial", "platform", "other")
PLATFORM_TYPES: tuple[str, ...] = (
    "economic_development_zone",
    "high_tech_zone",
    "bonded_zone",
    "free_trade_zone",
    "co_built_park",
    "concentrated_receiving_area",
    "strategic_cooperation_zone",
    "logistics_hub",
    "trade_market",
    "data_center_base",
    "industrial_park",
    "innovation_center",
    "new_area",
    "other",
    "theme_town",  # 文旅文创特色小镇: a themed cultural/tourism town, no industrial land (features.pairs)
)
PROVINCES: tuple[str, ...] = ("北京市", "天津市", "河北省")
CRITERIA: tuple[str, ...] = ("industry_chain", "land", "talent", "subsidy", "proximity")
FEEDBACK_OUTCOMES: tuple[str, ...] = ("shortlisted", "visited", "signed", "landed", "rejected")

Function = Literal[
    "production",
    "rnd",
    "headquarters",
    "logistics",
    "wholesale",
    "data_center",
    "back_office",
    "education",
    "healthcare",
    "research",
    "administration",
]
SubsidyItem = Literal["tax", "land", "rent", "talent", "equipment", "rnd"]
PollutionLevel = Literal["low", "medium", "high"]

# Tiananmen, the reference point for "distance to Beijing".
BEIJING_LAT = 39.9087
BEIJING_LNG = 116.3975
# Bounding box of Beijing-Tianjin-Hebei, used to reject coordinates that cannot be in the region.
REGION_LAT = (36.0, 42.7)
REGION_LNG = (113.4, 119.9)

# --- firm columns ---------------------------------------------------------------------------

FIRM_ID = "firm_id"
NAME = "name"
DESCRIPTION = "description"
INDUSTRY_CODE = "industry_code"
ORIGIN_DISTRICT = "origin_district"
FUNCTIONS_COL = "functions"
EMPLOYEES = "employees"
LAND_NEED_MU = "land_need_mu"
FLOOR_AREA_NEED_M2 = "floor_area_need_m2"
REVENUE_CNY_10K = "revenue_cny_10k"
TALENT_LEVEL = "talent_level"
BEIJING_TIES = "beijing_ties"
MAX_DISTANCE_KM = "max_distance_km"
NEEDS_PORT = "needs_port"
POLLUTION_LEVEL = "pollution_level"
SUBSIDY_PRIORITIES = "subsidy_priorities"
CHAIN_PARTNER_CODES = "chain_partner_codes"

FIRM_COLUMNS: tuple[str, ...] = (
    FIRM_ID,
    NAME,
    DESCRIPTION,
    INDUSTRY_CODE,
    ORIGIN_DISTRICT,
    FUNCTIONS_COL,
    EMPLOYEES,
    LAND_NEED_MU,
    FLOOR_AREA_NEED_M2,
    REVENUE_CNY_10K,
    TALENT_LEVEL,
    BEIJING_TIES,
    MAX_DISTANCE_KM,
    NEEDS_PORT,
    POLLUTION_LEVEL,
    SUBSIDY_PRIORITIES,
    CHAIN_PARTNER_CODES,
)
FIRM_LIST_COLUMNS: tuple[str, ...] = (FUNCTIONS_COL, SUBSIDY_PRIORITIES, CHAIN_PARTNER_CODES)

# Columns of registry exports (企查查, 天眼查, 国家企业信用信息公示系统).  They are read to fill the
# profile (所属行业 → industry, 注册地址 → origin, 参保人数 → employees), to warn (登记状态, duplicate or
# non-Beijing credit codes), and the identifying ones are passed through to every output so an
# officer can call the firm without looking it up again.
CREDIT_CODE = "credit_code"
LEGAL_REP = "legal_representative"
PHONE = "phone"
REG_ADDRESS = "registered_address"
REG_STATUS = "registration_status"
REG_CAPITAL = "registered_capital"
INSURED_EMPLOYEES = "insured_employees"
INDUSTRY_NAME = "industry"  # 所属行业: a GB/T name at any level, or a code
INDUSTRY_CODE_2011 = "industry_code_2011"
INPUT_NOTES = "input_notes"  # warnings the reader attaches to a row (duplicate credit code)
REGISTRY_COLUMNS: tuple[str, ...] = (
    CREDIT_CODE,
    LEGAL_REP,
    PHONE,
    REG_ADDRESS,
    REG_STATUS,
    REG_CAPITAL,
    INSURED_EMPLOYEES,
    INDUSTRY_NAME,
    INDUSTRY_CODE_2011,
)
PASSTHROUGH_COLUMNS: tuple[str, ...] = (CREDIT_CODE, LEGAL_REP, PHONE)
# Everything a batch file may carry, in the order of ``parkmatch template``.
INPUT_COLUMNS: tuple[str, ...] = (*FIRM_COLUMNS, *REGISTRY_COLUMNS)
# Inclusive numeric limits; ``None`` means unbounded on that side.  Shared by the pydantic
# model and the column-wise batch validator so both reject exactly the same values.
FIRM_NUMERIC_LIMITS: dict[str, tuple[float | None, float | None]] = {
    EMPLOYEES: (1, 5_000_000),
    LAND_NEED_MU: (0, 100_000),
    FLOOR_AREA_NEED_M2: (0, 10_000_000),
    REVENUE_CNY_10K: (0, 1e9),
    TALENT_LEVEL: (0, 1),
    BEIJING_TIES: (0, 1),
    MAX_DISTANCE_KM: (1, 3_000),
}
# Fields filled from industry priors when missing; the list of filled ones is reported back.
IMPUTABLE_FIELDS: tuple[str, ...] = (
    INDUSTRY_CODE,
    FUNCTIONS_COL,
    EMPLOYEES,
    LAND_NEED_MU,
    FLOOR_AREA_NEED_M2,
    TALENT_LEVEL,
    BEIJING_TIES,
    MAX_DISTANCE_KM,
    NEEDS_PORT,
    POLLUTION_LEVEL,
    SUBSIDY_PRIORITIES,
)

# Chinese headers accepted in batch files, mapped to the canonical names.  The first header
# listed for a field is the one ``parkmatch template`` writes.
FIRM_HEADER_ALIASES: dict[str, str] = {
    "企业编号": FIRM_ID,
    "企业ID": FIRM_ID,
    "编号": FIRM_ID,
    "企业名称": NAME,
    "名称": NAME,
    "单位名称": NAME,
    "公司名称": NAME,
    "主营业务": DESCRIPTION,
    "经营范围": DESCRIPTION,
    "企业简介": DESCRIPTION,
    "行业代码": INDUSTRY_CODE,
    "国民经济行业代码": INDUSTRY_CODE,
    "所属行业代码": INDUSTRY_CODE,
    "国标行业代码": INDUSTRY_CODE,
    "行业代码(2011)": INDUSTRY_CODE_2011,
    "行业代码(2011版)": INDUSTRY_CODE_2011,
    "2011版行业代码": INDUSTRY_CODE_2011,
    "所属行业": INDUSTRY_NAME,
    "国标行业": INDUSTRY_NAME,
    "行业": INDUSTRY_NAME,
    "所属区县": ORIGIN_DISTRICT,
    "所在区": ORIGIN_DISTRICT,
    "所在区县": ORIGIN_DISTRICT,
    "注册区": ORIGIN_DISTRICT,
    "区县": ORIGIN_DISTRICT,
    "疏解功能": FUNCTIONS_COL,
    "迁移功能": FUNCTIONS_COL,
    "员工人数": EMPLOYEES,
    "从业人员": EMPLOYEES,
    "职工人数": EMPLOYEES,
    "人员规模": EMPLOYEES,
    "参保人数": INSURED_EMPLOYEES,
    "用地需求(亩)": LAND_NEED_MU,
    "用地需求（亩）": LAND_NEED_MU,
    "用地需求": LAND_NEED_MU,
    "建筑面积需求(平方米)": FLOOR_AREA_NEED_M2,
    "建筑面积需求（平方米）": FLOOR_AREA_NEED_M2,
    "营业收入(万元)": REVENUE_CNY_10K,
    "营业收入（万元）": REVENUE_CNY_10K,
    "人才层次": TALENT_LEVEL,
    "人才需求": TALENT_LEVEL,
    "北京依存度": BEIJING_TIES,
    "最大距离(公里)": MAX_DISTANCE_KM,
    "最大距离（公里）": MAX_DISTANCE_KM,
    "需要港口": NEEDS_PORT,
    "污染等级": POLLUTION_LEVEL,
    "政策偏好": SUBSIDY_PRIORITIES,
    "补贴偏好": SUBSIDY_PRIORITIES,
    "产业链伙伴行业代码": CHAIN_PARTNER_CODES,
    "上下游行业代码": CHAIN_PARTNER_CODES,
    "统一社会信用代码": CREDIT_CODE,
    "信用代码": CREDIT_CODE,
    "法定代表人": LEGAL_REP,
    "法人代表": LEGAL_REP,
    "法人": LEGAL_REP,
    "联系电话": PHONE,
    "电话": PHONE,
    "企业电话": PHONE,
    "注册地址": REG_ADDRESS,
    "企业地址": REG_ADDRESS,
    "地址": REG_ADDRESS,
    "住所": REG_ADDRESS,
    "登记状态": REG_STATUS,
    "经营状态": REG_STATUS,
    "企业状态": REG_STATUS,
    "注册资本": REG_CAPITAL,
}

# --- park columns ---------------------------------------------------------------------------

PARK_ID = "park_id"
PARK_NAME = "name"
NAME_EN = "name_en"
PROVINCE = "province"
CITY = "city"
COUNTY = "county"
ADCODE = "adcode"
LAT = "lat"
LNG = "lng"
LEVEL = "level"
PLATFORM_TYPE = "platform_type"
PLATFORM_GROUP = "platform_group"
LEADING_INDUSTRIES = "leading_industries"
INDUSTRY_CODES = "industry_codes"
APPROVED_AREA_HA = "approved_area_ha"
AVAILABLE_LAND_MU = "available_land_mu"
LAND_PRICE = "land_price_cny_per_mu"
TALENT_POOL = "talent_pool"
SUBSIDY_COLUMNS: tuple[str, ...] = tuple(f"subsidy_{item}" for item in SUBSIDY_ITEMS)
KEEPS_BEIJING_REGISTRATION = "keeps_beijing_registration"
RAIL_MINUTES = "rail_minutes_to_beijing"
DISTANCE_KM = "distance_km_to_beijing"
PORT_ACCESS = "port_access"
RESTRICTED_INDUSTRIES = "restricted_industries"
MAX_POLLUTION_LEVEL = "max_pollution_level"
CAPACITY_PER_YEAR = "capacity_per_year"
SOURCE_URL = "source_url"
SOURCES = "sources"
NOTE = "note"
COORD_METHOD = "coord_method"
ZONE_CODE = "zone_code"
APPROVED_DATE = "approved_date"
OFFICIAL_LEADING_INDUSTRIES = "official_leading_industries"
LAND_GRADE = "land_grade"
LAND_PRICE_FLOOR = "land_price_floor_cny_per_mu"
DESIGNATED_FUNCTIONS = "designated_functions"
DESIGNATED_INDUSTRIES = "designated_industries"
DESIGNATED_NOTE = "designated_note"
PROVENANCE = "provenance"
FIELD_SOURCES = "field_sources"
REPRINT_ONLY = "reprint_only"  # fields whose every source is a reprint, not an official outlet

# Provenance of a catalogue value (``data/park_sources.csv``).  ``official``: an official
# catalogue or document; ``sourced``: a cited page; ``provided``: a value an organisation's
# officer proposed with its source and an admin of that organisation approved, laid over the
# catalogue at retraining (``features.corrections``; never written in ``park_sources.csv``);
# ``estimated``: a documented rule or proxy; ``unknown``: no value, and the matcher treats it as
# missing (NaN), never as a template number.
PROVIDED = "provided"
PROVENANCE_LEVELS: tuple[str, ...] = ("official", "sourced", PROVIDED, "estimated", "unknown")
# Classes of the published sources the catalogue files cite.
SOURCE_CLASSES: tuple[str, ...] = ("official_site", "official_media", "reprint")
# The class of a provided value's source: the organisation that proposed and approved it, whose
# cited document or page is named in the source's title (a served field source only).
ORGANISATION_SOURCE = "organisation"
FIELD_SOURCE_CLASSES: tuple[str, ...] = (*SOURCE_CLASSES, ORGANISATION_SOURCE)
# Coordinate methods that give a park its own point (anything but the county seat).
OWN_POINT_METHODS: tuple[str, ...] = (
    "zone_geocode",
    "sourced_point",
    "stated_coordinates",
    "town_centroid",
    "landmark",
    "parent_zone_geocode",
)

PARK_COLUMNS: tuple[str, ...] = (
    PARK_ID,
    PARK_NAME,
    NAME_EN,
    PROVINCE,
    CITY,
    COUNTY,
    ADCODE,
    LAT,
    LNG,
    LEVEL,
    PLATFORM_TYPE,
    PLATFORM_GROUP,
    LEADING_INDUSTRIES,
    INDUSTRY_CODES,
    APPROVED_AREA_HA,
    AVAILABLE_LAND_MU,
    LAND_PRICE,
    TALENT_POOL,
    *SUBSIDY_COLUMNS,
    KEEPS_BEIJING_REGISTRATION,
    RAIL_MINUTES,
    DISTANCE_KM,
    PORT_ACCESS,
    RESTRICTED_INDUSTRIES,
    MAX_POLLUTION_LEVEL,
    CAPACITY_PER_YEAR,
    SOURCE_URL,
    SOURCES,
    NOTE,
    COORD_METHOD,
    ZONE_CODE,
    APPROVED_DATE,
    OFFICIAL_LEADING_INDUSTRIES,
    LAND_GRADE,
    LAND_PRICE_FLOOR,
    DESIGNATED_FUNCTIONS,
    DESIGNATED_INDUSTRIES,
    DESIGNATED_NOTE,
)
# The attributes the ranker decides on.  Each non-blank value has a provenance row; a blank is
# unknown and stays NaN all the way to the ranker (LightGBM routes missing values natively).
PARK_DECISION_FIELDS: tuple[str, ...] = (
    AVAILABLE_LAND_MU,
    LAND_PRICE,
    LAND_PRICE_FLOOR,
    TALENT_POOL,
    *SUBSIDY_COLUMNS,
    KEEPS_BEIJING_REGISTRATION,
    RAIL_MINUTES,
    DISTANCE_KM,
    PORT_ACCESS,
    RESTRICTED_INDUSTRIES,
    MAX_POLLUTION_LEVEL,
    CAPACITY_PER_YEAR,
)
# Fields whose provenance is reported (``parks --provenance`` and each park's ``provenance``).
PROVENANCE_FIELDS: tuple[str, ...] = (
    LAT,
    LNG,
    INDUSTRY_CODES,
    APPROVED_AREA_HA,
    APPROVED_DATE,
    *PARK_DECISION_FIELDS,
    LAND_GRADE,
    DESIGNATED_FUNCTIONS,
    DESIGNATED_INDUSTRIES,
)
PARK_LIST_COLUMNS: tuple[str, ...] = (
    INDUSTRY_CODES,
    RESTRICTED_INDUSTRIES,
    SOURCES,
    DESIGNATED_FUNCTIONS,
    DESIGNATED_INDUSTRIES,
)
PARK_BOOL_COLUMNS: tuple[str, ...] = (KEEPS_BEIJING_REGISTRATION, PORT_ACCESS)
PARK_NUMERIC_COLUMNS: tuple[str, ...] = (
    LAT,
    LNG,
    APPROVED_AREA_HA,
    AVAILABLE_LAND_MU,
    LAND_PRICE,
    TALENT_POOL,
    *SUBSIDY_COLUMNS,
    RAIL_MINUTES,
    DISTANCE_KM,
    CAPACITY_PER_YEAR,
    LAND_GRADE,
    LAND_PRICE_FLOOR,
)
# Numeric fields every park must have (its point and the distance computed from it).
PARK_REQUIRED_NUMERIC: tuple[str, ...] = (LAT, LNG, DISTANCE_KM, RAIL_MINUTES)

# --- simulated world and evaluation columns -------------------------------------------------

EVENT_ID = "event_id"
YEAR = "year"
CHOSEN_PARK_ID = "chosen_park_id"
SHORTLIST_PARK_IDS = "shortlist_park_ids"
RELEVANCE = "relevance"
SCORE = "score"
RANK = "rank"
REASONS = "reasons"
ROW = "row"
FIELD = "field"
ERROR = "error"
IMPUTED = "imputed"
FIRM_NAME = "firm_name"  # the firm's name in result rows (the input column is NAME)
RESULT_PARK_NAME = "park_name"  # the park's name in results (the catalogue column is PARK_NAME)
MODEL_VERSION = "model_version"
STATE = "state"
WARNINGS = "warnings"
IMPUTED_VALUES = "imputed_values"
INDUSTRY_UNCERTAIN = "industry_uncertain"  # the inferred code is shown 估，待核实
TOP_PARK = "top_park"
TOP3 = "top3"

# What became of an input row; every row ends in exactly one.
MATCHED = "matched"
MATCHED_WITH_WARNINGS = "matched_with_warnings"
NO_FEASIBLE_PARK = "no_feasible_park"
REJECTED = "rejected"
STATES: tuple[str, ...] = (MATCHED, MATCHED_WITH_WARNINGS, NO_FEASIBLE_PARK, REJECTED)
STATE_ZH: dict[str, str] = {
    MATCHED: "已匹配",
    MATCHED_WITH_WARNINGS: "已匹配（有提示）",
    NO_FEASIBLE_PARK: "无可行园区",
    REJECTED: "已拒绝",
}
# Chinese names of the input fields, for error texts that name the field as the officer knows it.
FIELD_ZH: dict[str, str] = {
    FIRM_ID: "企业编号",
    NAME: "企业名称",
    DESCRIPTION: "经营范围",
    INDUSTRY_CODE: "行业代码",
    ORIGIN_DISTRICT: "所属区县",
    FUNCTIONS_COL: "疏解功能",
    EMPLOYEES: "员工人数",
    LAND_NEED_MU: "用地需求(亩)",
    FLOOR_AREA_NEED_M2: "建筑面积需求(平方米)",
    REVENUE_CNY_10K: "营业收入(万元)",
    TALENT_LEVEL: "人才层次",
    BEIJING_TIES: "北京依存度",
    MAX_DISTANCE_KM: "最大距离(公里)",
    NEEDS_PORT: "需要港口",
    POLLUTION_LEVEL: "污染等级",
    SUBSIDY_PRIORITIES: "政策偏好",
    CHAIN_PARTNER_CODES: "产业链伙伴行业代码",
    CREDIT_CODE: "统一社会信用代码",
    LEGAL_REP: "法定代表人",
    PHONE: "联系电话",
    REG_ADDRESS: "注册地址",
    REG_STATUS: "登记状态",
    REG_CAPITAL: "注册资本",
    INSURED_EMPLOYEES: "参保人数",
    INDUSTRY_NAME: "所属行业",
    INDUSTRY_CODE_2011: "行业代码(2011)",
}

# Chinese names of the catalogue fields an officer reads on a park (briefs, reports).
PARK_FIELD_ZH: dict[str, str] = {
    LAT: "纬度",
    LNG: "经度",
    INDUSTRY_CODES: "主导产业",
    APPROVED_AREA_HA: "核准面积",
    APPROVED_DATE: "批准设立",
    AVAILABLE_LAND_MU: "可用土地",
    LAND_PRICE: "工业用地价格",
    LAND_PRICE_FLOOR: "工业用地最低价",
    TALENT_POOL: "人才储备指数",
    "subsidy_tax": "税收优惠",
    "subsidy_land": "用地优惠",
    "subsidy_rent": "租金优惠",
    "subsidy_talent": "人才政策",
    "subsidy_equipment": "设备补贴",
    "subsidy_rnd": "研发补贴",
    KEEPS_BEIJING_REGISTRATION: "可保留北京注册",
    RAIL_MINUTES: "铁路到北京",
    DISTANCE_KM: "距天安门",
    PORT_ACCESS: "临港",
    RESTRICTED_INDUSTRIES: "限制行业",
    MAX_POLLUTION_LEVEL: "准入污染上限",
    CAPACITY_PER_YEAR: "年承接能力",
    LAND_GRADE: "土地等别",
    DESIGNATED_FUNCTIONS: "定向承接功能",
    DESIGNATED_INDUSTRIES: "定向承接产业",
}
# How a value's provenance is written next to it; an unknown value is written 未知 instead.
PROVENANCE_ZH: dict[str, str] = {
    "official": "官方",
    "sourced": "有来源",
    PROVIDED: "机构提供",
    "estimated": "估",
    "unknown": "未知",
}
UNKNOWN_ZH = "未知"

# --- the output contract ----------------------------------------------------------------------
# One definition of what a recommendation carries.  The API nests the criteria in a dictionary
# (``Recommendation``); batch files and data frames flatten them into one column each, in this
# order.  Rejected rows always have REJECT_COLUMNS.
RESULT_COLUMNS: tuple[str, ...] = (
    ROW,
    FIRM_ID,
    FIRM_NAME,
    *PASSTHROUGH_COLUMNS,
    RANK,
    PARK_ID,
    RESULT_PARK_NAME,
    PROVINCE,
    CITY,
    COUNTY,
    SCORE,
    *CRITERIA,
    REASONS,
    IMPUTED,
    IMPUTED_VALUES,
    WARNINGS,
)
REJECT_COLUMNS: tuple[str, ...] = (ROW, FIELD, ERROR, FIRM_ID)
# One row per input row, whatever became of it: the accounting that proves no firm is lost.
FIRM_SUMMARY_COLUMNS: tuple[str, ...] = (
    ROW,
    FIRM_ID,
    FIRM_NAME,
    *PASSTHROUGH_COLUMNS,
    STATE,
    TOP_PARK,
    TOP3,
    FIELD,
    ERROR,
    WARNINGS,
    IMPUTED_VALUES,
)

# Chinese headers of every output column (XLSX always, CSV with ``--headers zh``).
OUTPUT_HEADERS_ZH: dict[str, str] = {
    ROW: "行号",
    FIRM_ID: "企业编号",
    FIRM_NAME: "企业名称",
    CREDIT_CODE: "统一社会信用代码",
    LEGAL_REP: "法定代表人",
    PHONE: "联系电话",
    RANK: "推荐排名",
    PARK_ID: "园区编号",
    RESULT_PARK_NAME: "园区名称",
    PROVINCE: "省份",
    CITY: "城市",
    COUNTY: "区县",
    SCORE: "综合得分",
    "industry_chain": "产业链匹配",
    "land": "土地匹配",
    "talent": "人才匹配",
    "subsidy": "政策匹配",
    "proximity": "区位匹配",
    REASONS: "推荐理由",
    IMPUTED: "估算字段",
    IMPUTED_VALUES: "估算值（估）",
    WARNINGS: "提示",
    STATE: "处理结果",
    TOP_PARK: "首选园区",
    TOP3: "前三园区",
    FIELD: "问题字段",
    ERROR: "原因",
    "allocated_rank": "容量分配后排名",
    "allocated": "已分配",
}
# --- the park's side: leads ------------------------------------------------------------------
LEAD_SCORE = "lead_score"
PARK_SCORE = "park_score"
PARK_RANK = "park_rank"
N_OPTIONS = "n_options"
PRESSURE = "pressure"
FIRST_PARK = "first_choice_park_id"
FIRST_PARK_NAME = "first_choice_park_name"
PRESSURE_PARTS: tuple[str, ...] = ("restriction", "function", "space", "core_area")
PRESSURE_PART_ZH: dict[str, str] = {
    "restriction": "禁限目录",
    "function": "疏解功能",
    "space": "用地规模",
    "core_area": "核心区",
}
PRESSURE_PART_COLUMNS: tuple[str, ...] = tuple(f"pressure_{p}" for p in PRESSURE_PARTS)
# One row per lead in files (the API nests the pressure parts with their texts).
LEAD_COLUMNS: tuple[str, ...] = (
    ROW,
    FIRM_ID,
    FIRM_NAME,
    *PASSTHROUGH_COLUMNS,
    LEAD_SCORE,
    PARK_SCORE,
    PARK_RANK,
    N_OPTIONS,
    PRESSURE,
    *PRESSURE_PART_COLUMNS,
    FIRST_PARK,
    FIRST_PARK_NAME,
    REASONS,
)
OUTPUT_HEADERS_ZH.update(
    {
        LEAD_SCORE: "线索得分",
        PARK_SCORE: "本园区得分",
        PARK_RANK: "本园区在该企业选项中的排名",
        N_OPTIONS: "该企业可选园区数",
        PRESSURE: "疏解压力",
        FIRST_PARK: "该企业首选园区编号",
        FIRST_PARK_NAME: "该企业首选园区",
        **{
            c: f"疏解压力·{PRESSURE_PART_ZH[p]}"
            for p, c in zip(PRESSURE_PARTS, PRESSURE_PART_COLUMNS, strict=True)
        },
    }
)
RELEVANCE_CHOSEN = 2
RELEVANCE_SHORTLISTED = 1
RELEVANCE_OTHER = 0

# What officers record after a recommendation, as graded labels for retraining: a signed or
# landed firm–park pair is the strongest evidence, a visit less, a shortlist less again, and a
# rejection is a negative like any candidate nobody pursued.
OUTCOMES: tuple[str, ...] = ("shortlisted", "visited", "signed", "landed", "rejected")
OUTCOME_GRADE: dict[str, int] = {"signed": 3, "landed": 3, "visited": 2, "shortlisted": 1, "rejected": 0}
# Why a pair was rejected; required with a rejection so that retraining reports can say what
# the parks lost on.
REJECT_REASONS: tuple[str, ...] = ("land", "price", "distance", "talent", "policy", "other")
REJECT_REASONS_ZH: dict[str, str] = {
    "land": "用地",
    "price": "地价",
    "distance": "距离",
    "talent": "人才",
    "policy": "政策",
    "other": "其他",
}


# --- models ---------------------------------------------------------------------------------


def _split_list(value: Any) -> Any:
    """Accept ``"a;b"`` as well as ``["a", "b"]`` so JSON and spreadsheet cells mean the same."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("；", ";").split(";") if part.strip()]
    return value


def _lo(field: str) -> float | None:
    return FIRM_NUMERIC_LIMITS[field][0]


def _hi(field: str) -> float | None:
    return FIRM_NUMERIC_LIMITS[field][1]


IndustryCodeStr = Annotated[str, Field(pattern=r"^\d{2,4}$", description="GB/T 4754-2017 code, 2-4 digits")]


class FirmProfile(BaseModel):
    """What an officer knows about a firm.  Only ``name`` and one of ``industry_code`` /
    ``description`` are required: officers usually have a name and a line of business, and
    everything else is imputed from industry priors and reported back as imputed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    firm_id: str | None = Field(default=None, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    industry_code: str | None = Field(default=None, pattern=r"^\d{2,4}$")
    origin_district: str | None = Field(default=None, max_length=50)
    functions: list[Function] = Field(default_factory=list)
    employees: int | None = Field(default=None, ge=_lo(EMPLOYEES), le=_hi(EMPLOYEES))
    land_need_mu: float | None = Field(default=None, ge=_lo(LAND_NEED_MU), le=_hi(LAND_NEED_MU))
    floor_area_need_m2: float | None = Field(
        default=None, ge=_lo(FLOOR_AREA_NEED_M2), le=_hi(FLOOR_AREA_NEED_M2)
    )
    revenue_cny_10k: float | None = Field(default=None, ge=_lo(REVENUE_CNY_10K), le=_hi(REVENUE_CNY_10K))
    talent_level: float | None = Field(default=None, ge=_lo(TALENT_LEVEL), le=_hi(TALENT_LEVEL))
    beijing_ties: float | None = Field(default=None, ge=_lo(BEIJING_TIES), le=_hi(BEIJING_TIES))
    max_distance_km: float | None = Field(default=None, ge=_lo(MAX_DISTANCE_KM), le=_hi(MAX_DISTANCE_KM))
    needs_port: bool | None = None
    pollution_level: PollutionLevel | None = None
    subsidy_priorities: list[SubsidyItem] = Field(default_factory=list)
    chain_partner_codes: list[IndustryCodeStr] = Field(default_factory=list)

    _split = field_validator(FUNCTIONS_COL, SUBSIDY_PRIORITIES, CHAIN_PARTNER_CODES, mode="before")(
        classmethod(lambda cls, v: _split_list(v))
    )

    @field_validator(DESCRIPTION, INDUSTRY_CODE, ORIGIN_DISTRICT, FIRM_ID, mode="before")
    @classmethod
    def _blank_is_missing(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _needs_code_or_description(self) -> FirmProfile:
        if self.industry_code is None and not self.description:
            raise ValueError("give industry_code or description: the industry cannot be known otherwise")
        return self


def profile_json(firm: FirmProfile) -> str:
    """The canonical JSON of a firm profile: unset fields dropped, keys sorted, so the same firm
    sent twice (by the API, the workspace or a retrain reading the corpus) hashes the same."""
    return json.dumps(firm.model_dump(mode="json", exclude_none=True), ensure_ascii=False, sort_keys=True)


def profile_hash(firm: FirmProfile) -> str:
    """SHA-256 of :func:`profile_json`: one firm's outcomes over several parks share it."""
    return hashlib.sha256(profile_json(firm).encode("utf-8")).hexdigest()


class Subsidies(BaseModel):
    """Strength of each incentive on a 0-3 scale; ``None`` where no source states it."""

    tax: int | None = Field(default=None, ge=0, le=3)
    land: int | None = Field(default=None, ge=0, le=3)
    rent: int | None = Field(default=None, ge=0, le=3)
    talent: int | None = Field(default=None, ge=0, le=3)
    equipment: int | None = Field(default=None, ge=0, le=3)
    rnd: int | None = Field(default=None, ge=0, le=3)
    keeps_beijing_registration: bool | None = None


Provenance = Literal["official", "sourced", "provided", "estimated", "unknown"]


class FieldSource(BaseModel):
    """One source behind a park value, classed so that a reprint-only fact can be told apart
    and a value an organisation provided (``organisation``: ``url`` empty when its source is a
    document rather than a page) names who provided and approved it."""

    url: str
    title: str
    source_class: Literal["official_site", "official_media", "reprint", "organisation"]


class ParkProfile(BaseModel):
    """One receiving park as served to officers, with the provenance of its values.

    ``None`` means unknown: no source states the value, and the matcher does not invent one.
    """

    model_config = ConfigDict(extra="forbid")

    park_id: str
    name: str
    name_en: str | None = None
    province: str
    city: str
    county: str
    adcode: str = Field(pattern=r"^\d{6}$")
    lat: float
    lng: float
    coord_method: str
    level: str
    platform_type: str
    platform_group: str | None = None
    zone_code: str | None = None
    approved_date: str | None = None
    leading_industries: str | None = None
    official_leading_industries: str | None = None
    industry_codes: list[str]
    approved_area_ha: float | None = None
    available_land_mu: float | None = None
    land_price_cny_per_mu: float | None = None
    land_grade: int | None = None
    land_price_floor_cny_per_mu: float | None = None
    talent_pool: float | None = None
    subsidies: Subsidies
    rail_minutes_to_beijing: float
    distance_km_to_beijing: float
    port_access: bool | None = None
    restricted_industries: list[str]
    max_pollution_level: str | None = None
    capacity_per_year: int | None = None
    designated_functions: list[str] = Field(default_factory=list)
    designated_industries: list[str] = Field(default_factory=list)
    designated_note: str | None = None
    source_url: str | None = None
    sources: list[str] = Field(default_factory=list)
    note: str | None = None
    provenance: dict[str, Provenance] = Field(default_factory=dict)
    field_sources: dict[str, list[FieldSource]] = Field(default_factory=dict)
    reprint_only: list[str] = Field(default_factory=list)


class Recommendation(BaseModel):
    rank: int
    park_id: str
    park_name: str
    province: str
    city: str
    county: str
    adcode: str
    score: float
    # None: the criterion rests on values no source states, so it is unknown, not zero
    criteria: dict[str, float | None]
    reasons: list[str]


class Exclusion(BaseModel):
    park_id: str
    park_name: str
    rule: str
    detail: str


class RecommendationResult(BaseModel):
    firm_id: str | None
    model_version: str
    imputed: list[str]
    recommendations: list[Recommendation]
    excluded: list[Exclusion] = Field(default_factory=list)
    state: Literal["matched", "matched_with_warnings", "no_feasible_park"] = Field(
        default="matched",
        description="matched, matched_with_warnings, or no_feasible_park (then see no_match)",
    )
    imputed_values: dict[str, str] = Field(
        default_factory=dict, description="each imputed field with the value used, marked 估"
    )
    warnings: list[str] = Field(
        default_factory=list, description="things the officer should check, in Chinese"
    )
    no_match: str | None = Field(
        default=None, description="for no_feasible_park: the binding rules and the nearest relaxation"
    )


# --- leads for a park's brief ---------------------------------------------------------------
# A lead is a firm the park could approach: how good a lead it is, how pressed it is to leave
# Beijing, where the park stands in the firm's own ranking and which park is its first choice.

LEAD_FIRM_NAME = "firm_name"
LEAD_SCORE = "lead_score"
RELOCATION_PRESSURE = "relocation_pressure"
PARK_RANK = "park_rank"
COMPETITOR = "competitor"
LEAD_FIELD_ZH: dict[str, str] = {
    LEAD_FIRM_NAME: "企业名称",
    LEAD_SCORE: "线索得分",
    RELOCATION_PRESSURE: "迁出压力",
    PARK_RANK: "本园排名",
    COMPETITOR: "首选竞争园区",
    REASONS: "理由",
}
LEAD_HEADER_ALIASES: dict[str, str] = {v: k for k, v in LEAD_FIELD_ZH.items()}


class LeadRow(BaseModel):
    """One lead as a park brief lists it.  ``competitor`` is the firm's first-choice park when it
    is not this one; blank when this park is the firm's first choice."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    firm_name: str = Field(min_length=1, max_length=200)
    lead_score: float = Field(allow_inf_nan=False)
    relocation_pressure: float | None = Field(default=None, ge=0, le=1)
    park_rank: int | None = Field(default=None, ge=1)
    competitor: str | None = Field(default=None, max_length=200)
    reasons: list[str] = Field(default_factory=list)

    _split = field_validator(REASONS, mode="before")(classmethod(lambda cls, v: _split_list(v)))

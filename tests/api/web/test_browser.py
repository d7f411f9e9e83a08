"""The workspace in real headless Chromium against a real ``parkmatch serve`` on loopback.

One server and one browser for the module; the tests run in file order as one officer's visit
(sign in, recommend, why-not, compare, catalogue, batch, follow-up and its funnel, a park
correction proposed, then approved by the admin, seen by a viewer, sign out) and write the
screenshots in ``docs/screenshots/`` at desktop and phone width.  Every request the browser
makes is logged, and the last test checks that none went to another host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from api.db import Database
from benchmarks.http import stop_process

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "docs" / "screenshots"
WIDTHS = (("desktop", 1280, 800), ("phone", 390, 844))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORG_A, ORG_B = "廊坊市招商局", "保定市招商局"
FIRMS = [
    ("北京某制药有限公司", "2710", "原料药生产"),
    ("北京某冷链物流有限公司", "", "冷链仓储配送"),
    ("北京某数据服务有限公司", "6450", ""),
    ("北京某服装批发有限公司", "5132", "服装批发"),
    ("北京某软件有限公司", "6513", "应用软件开发"),
]

try:
    from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need headless Chromium at /usr/bin/chromium (Debian package chromium)",
    ),
    pytest.mark.skipif(sync_playwright is None, reason="browser tests need the playwright package"),
]


@dataclass
class Served:
    url: str
    officer: str
    viewer: str
    other: str
    admin: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(bundle_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``parkmatch serve`` over the small fixture model, with keys of two organisations."""
    home = tmp_path_factory.mktemp("served")
    db_url = f"sqlite:///{(home / 'parkmatch.db').as_posix()}"
    db = Database(db_url)
    db.create_all()
    keys = [
        db.create_key(org, role)[1]
        for org, role in ((ORG_A, "officer"), (ORG_A, "viewer"), (ORG_B, "officer"), (ORG_A, "admin"))
    ]
    db.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PARKMATCH_HOME": str(home),
        "PARKMATCH_MODEL_DIR": str(bundle_path),
        "PARKMATCH_DATABASE_URL": db_url,
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "parkmatch", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / "serve.log").read_text(errors="replace")[-3000:]
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "parkmatch serve did not become ready"
            time.sleep(0.3)
        yield Served(url, *keys)
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def context(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    assert sync_playwright is not None
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 800},
            accept_downloads=True,
            locale="zh-CN",
        )
        ctx.on("request", lambda req: served.requests.append(req.url))
        ctx.set_default_timeout(30_000)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def page(context: BrowserContext, served: Served) -> Page:
    p = context.pages[0] if context.pages else context.new_page()
    # Refused requests the visit makes on purpose (a wrong key, a route this server lacks, after
    # sign-out) log "Failed to load resource"; anything else, a CSP refusal above all, is a fault.
    p.on(
        "console",
        lambda m: (
            served.problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    p.on("pageerror", lambda e: served.problems.append(str(e)))
    return p


def shoot(page: Page, name: str) -> None:
    """Both widths, full page; at phone width nothing may stick out sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(400)  # the map redraws for the new width
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width}px is {overflow}px wider than the screen"
    page.set_viewport_size({"width": 1280, "height": 800})


def test_sign_in(page: Page, served: Served) -> None:
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login")
    expect(page.get_by_label("API 密钥")).to_be_focused()
    shoot(page, "login")
    page.get_by_label("API 密钥").fill("pm_wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-error")).to_have_text("API 密钥无效或已停用（key）")
    page.get_by_label("API 密钥").fill(served.officer)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(served.url + "/find")
    expect(page.locator("header .who")).to_contain_text(ORG_A)
    assert served.officer not in page.url


def test_recommend_shows_ranked_parks_with_reasons_and_the_map(page: Page) -> None:
    page.get_by_label("企业名称").fill("北京某制药有限公司")
    page.get_by_label("经营范围或主营业务").fill("化学原料药及制剂的研发与生产")
    industry = page.get_by_label("所属行业（国民经济行业分类 GB/T 4754-2017）")
    industry.fill("原料药")
    expect(page.locator('#industry-options option[value="2710 化学药品原料药制造"]')).to_have_count(1)
    industry.fill("2710 化学药品原料药制造")
    page.get_by_label("迁出区（北京）").select_option("大兴区")
    page.get_by_label("生产制造").check()
    page.get_by_role("button", name="推荐园区").click()
    cards = page.locator("#res-list .card")
    expect(cards.nth(4)).to_be_visible()
    assert cards.count() >= 5
    for i in range(5):
        assert cards.nth(i).locator("ul.reasons li").count() >= 1
        assert cards.nth(i).locator(".bars .bar").count() == 5
    ranked = page.locator("#map svg g.park")
    expect(ranked).to_have_count(cards.count())
    assert page.locator("#map svg text", has_text="200 公里").count() == 1
    assert page.locator("#map svg text", has_text="天安门").count() == 1
    shoot(page, "find")


def test_export_the_firm_brief(page: Page, tmp_path: Path) -> None:
    """导出简报 on the result downloads the one-page PDF of this very recommendation."""
    button = page.get_by_role("button", name="导出简报")
    expect(button).to_be_visible()
    first = page.locator("#res-list .card").first.locator("h3 a").inner_text()
    with page.expect_download() as got:
        button.click()
    out = tmp_path / "brief.pdf"
    got.value.save_as(out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert len(doc) == 1
    assert "北京某制药有限公司" in text.replace("\r", "").replace("\n", "")
    assert first.split("（")[0][:6] in text.replace("\r", "").replace("\n", "")


def test_why_not_this_park(page: Page) -> None:
    third = page.locator("#res-list .card").nth(2)
    name = third.locator("h3 a").inner_text()
    third.get_by_role("button", name="为什么不是这个园区").click()
    why = page.locator("#why-out .why[data-source=why]")  # the park-side route, not the fallback
    expect(why).to_be_visible()
    expect(why).to_contain_text(name)
    expect(why).to_contain_text("第 3 名")


def test_compare_two_parks(page: Page) -> None:
    cards = page.locator("#res-list .card")
    names = [cards.nth(i).locator("h3 a").inner_text() for i in (0, 1)]
    cards.nth(0).get_by_label("加入对比").check()
    cards.nth(1).get_by_label("加入对比").check()
    page.get_by_role("button", name="对比所选园区").click()
    table = page.locator("#compare-out table")
    expect(table).to_be_visible()
    assert table.locator("thead th").all_inner_texts() == ["项目", *names]
    assert page.locator("#compare-out [data-source=compare]").count() == 1  # the park-side route
    expect(table.locator("tbody tr")).to_have_count(2 + 5 + 1 + 1)
    expect(table.locator("tbody tr", has_text="数据来源")).to_contain_text("未知")
    shoot(page, "find-why-compare")


def test_the_catalogue_filters_and_a_park_shows_provenance(page: Page, served: Served) -> None:
    page.get_by_role("link", name="园区", exact=True).click()
    rows = page.locator("#park-table tbody tr")
    expect(rows.first).to_be_visible()
    everything = rows.count()
    page.get_by_label("省市").select_option("天津市")
    expect(page.locator("#p-count")).not_to_contain_text(f"（{everything} /")
    cities = page.locator("#park-table tbody tr td:nth-child(2)").all_inner_texts()
    assert cities and all(c.startswith("天津市") for c in cities)
    expect(page.locator("#map svg g.park")).to_have_count(len(cities))
    shoot(page, "parks")
    rows.first.locator("a").click()
    table = page.locator("table.prov-table")
    expect(table).to_be_visible()
    levels = set(table.locator("td .prov").all_inner_texts())
    assert levels <= {"官方", "有来源", "估", "未知"} and "未知" in levels
    for row in table.locator("tbody tr").all():
        value, level = row.locator("td").nth(0).inner_text(), row.locator("td .prov").inner_text()
        assert (value == "未知") == (level == "未知"), (value, level)
        if level == "估":
            assert value.endswith("（估）")
    shoot(page, "park")
    with page.expect_download() as got:
        page.get_by_role("link", name="导出简报").click()
    assert Path(got.value.path()).read_bytes().startswith(b"%PDF")


def test_batch_upload_then_download(page: Page, served: Served, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["企业名称", "行业代码", "主营业务"])
    for firm in FIRMS:
        sheet.append(list(firm))
    sheet.append(["缺行业的企业", "", ""])
    upload = tmp_path / "名单.xlsx"
    book.save(upload)
    page.get_by_role("link", name="批量").click()
    page.get_by_label("文件").set_input_files(str(upload))
    page.get_by_label("每家企业推荐园区数").select_option("3")
    page.get_by_role("button", name="上传并匹配").click()
    link = page.get_by_role("link", name="下载结果（Excel）")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.locator("#b-progress-text")).to_contain_text("已处理 6 行")
    assert page.locator("#b-progress").get_attribute("value") == "1"
    shoot(page, "batch")
    with page.expect_download() as got:
        link.click()
    out = tmp_path / "result.xlsx"
    got.value.save_as(out)
    result = openpyxl.load_workbook(out, read_only=True)
    summary = list(result["汇总"].values)
    header, body = summary[0], summary[1:]
    assert len(body) == len(FIRMS) + 1
    names = [r[header.index("企业名称")] for r in body]
    assert names == [f[0] for f in FIRMS] + ["缺行业的企业"]
    states = [r[header.index("处理结果")] for r in body]
    assert states[-1] == "已拒绝" and all(s.startswith("已匹配") for s in states[:-1])
    detail = [r for r in list(result["推荐明细"].values)[1:] if r[0] is not None]
    assert len(detail) == 3 * len(FIRMS)


def test_record_a_follow_up_and_see_only_our_own(page: Page, served: Served) -> None:
    theirs = {"firm_name": "保定方面的企业", "park_id": "BJ001", "outcome": "signed"}
    r = httpx.post(served.url + "/v1/feedback", json=theirs, headers={"X-API-Key": served.other})
    assert r.status_code == 201
    page.get_by_role("link", name="企业找园区").click()
    page.get_by_label("企业名称").fill("北京某制药有限公司")
    page.get_by_label("所属行业（国民经济行业分类 GB/T 4754-2017）").fill("2710")
    page.get_by_role("button", name="推荐园区").click()
    first = page.locator("#res-list .card").first
    park_name = first.locator("h3 a").inner_text()
    first.get_by_role("link", name="记录跟进").click()
    expect(page.get_by_label("企业名称")).to_have_value("北京某制药有限公司")
    expect(page.get_by_label("园区", exact=True)).to_have_value(f"{park_name}（{first_id(page)}）")
    page.get_by_label("进展").select_option(label="已考察")
    page.get_by_label("备注").fill("园区用地指标待确认")
    page.get_by_role("button", name="保存").click()
    rows = page.locator("#fu-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("已考察")
    expect(rows.first).to_contain_text(park_name)
    assert "保定方面的企业" not in page.locator("#fu-table").inner_text()


def first_id(page: Page) -> str:
    return page.url.split("park=")[1].split("&")[0]


# The park the funnel and the correction tests use; its place in the funnel is checked exactly.
FUNNEL_PARK = {"id": "HE115"}


def test_the_funnel_counts_each_firm_at_its_furthest_stage(page: Page, served: Served) -> None:
    rows = page.locator("#fu-table tbody tr")
    pharma_park = (rows.first.locator("a").get_attribute("href") or "").rsplit("/", 1)[-1]
    park = FUNNEL_PARK["id"] = "HE115" if pharma_park != "HE115" else "BJ001"
    firm = page.get_by_label("企业名称")
    firm.fill("北京某制药有限公司")  # the firm 企业找园区 matched: its profile goes with the record
    expect(page.locator("#fu-profile")).to_be_visible()
    reason = page.get_by_label("放弃原因")
    steps: list[tuple[str, str, str | None]] = [
        ("北京某新材料有限公司", o, None) for o in ("已列入候选", "已考察", "已签约")
    ]
    steps += [("北京某机械有限公司", "已列入候选", None), ("北京某机械有限公司", "已放弃", "地价")]
    for n, (name, outcome, why) in enumerate(steps, start=2):
        firm.fill(name)
        expect(page.locator("#fu-profile")).to_be_hidden()
        page.get_by_label("园区", exact=True).fill(park)
        page.get_by_label("进展").select_option(label=outcome)
        if why:
            expect(reason).to_be_visible()
            expect(reason).to_have_attribute("required", "")
            reason.select_option(label=why)
        else:
            expect(reason).to_be_hidden()
        page.get_by_role("button", name="保存").click()
        expect(rows).to_have_count(n)
    expect(rows.first).to_contain_text("已放弃（地价）")
    funnel = page.locator("#fn-table tbody tr")
    expect(funnel.first).to_have_attribute("data-park", park)  # the one signing comes first
    assert funnel.first.locator("td").all_inner_texts() == ["2", "1", "1", "1", "50%", "100%"]
    expect(funnel).to_have_count(2)
    total = page.locator("#fn-table tfoot tr td")
    assert total.all_inner_texts() == ["3", "2", "1", "1", "67%", "50%"]
    expect(page.locator('#fn-reasons li[data-reason="price"] strong')).to_have_text("1")
    expect(page.locator('#fn-reasons li[data-reason="land"]')).to_contain_text("用地")
    mine = httpx.get(served.url + "/v1/feedback", headers={"X-API-Key": served.viewer}).json()["items"]
    profiled = {f["firm_name"] for f in mine if f["has_profile"]}
    assert profiled == {"北京某制药有限公司"}, profiled
    shoot(page, "followups")


def test_an_officer_proposes_a_correction_on_a_park_page(page: Page, served: Served) -> None:
    page.goto(served.url + "/parks/" + FUNNEL_PARK["id"])
    page.get_by_label("字段").select_option(label="工业地价（元/亩）")
    expect(page.locator("#cor-current")).to_contain_text("当前值：")
    page.get_by_label("新值").fill("150000")
    page.get_by_label("依据（网址或文件名）").fill("2024年工业用地出让公告.pdf")
    page.get_by_label("备注").fill("按最新公告")
    page.get_by_role("button", name="提交更正").click()
    expect(page.locator("#cor-done")).to_be_visible()
    mine = page.locator("#cor-table tbody tr")
    expect(mine).to_have_count(1)
    expect(mine.first).to_contain_text("待审核")
    expect(mine.first).to_contain_text("150,000")
    expect(page.get_by_role("link", name="更正审核")).to_have_count(0)  # officers do not review
    shoot(page, "park-correction")


def sign_in_as(page: Page, served: Served, key: str) -> None:
    page.goto(served.url + "/find")
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(served.url + "/login")
    page.get_by_label("API 密钥").fill(key)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(served.url + "/find")


def test_an_admin_approves_it_and_it_moves_to_the_decided(page: Page, served: Served) -> None:
    sign_in_as(page, served, served.admin)
    page.get_by_role("link", name="更正审核").click()
    pending = page.locator("#cp-table tbody tr")
    expect(pending).to_have_count(1)
    expect(pending.first).to_contain_text("工业地价（元/亩）")
    expect(pending.first).to_contain_text("150,000")
    expect(pending.first).to_contain_text("2024年工业用地出让公告.pdf")
    shoot(page, "corrections")
    pending.first.get_by_label("审核意见").fill("与公告一致")
    pending.first.get_by_role("button", name="批准").click()
    expect(pending).to_have_count(0)
    expect(page.locator("#cp-empty")).to_be_visible()
    decided = page.locator("#cd-table tbody tr")
    expect(decided).to_have_count(1)
    expect(decided.first).to_contain_text("已批准")
    expect(decided.first).to_contain_text("与公告一致")


def test_an_admin_may_withdraw_but_not_approve_their_own_proposal(page: Page, served: Served) -> None:
    """Four eyes on the review page: the admin's own proposal offers 撤回, not 批准."""
    own = httpx.post(
        served.url + "/v1/parks/BJ001/corrections",
        json={"field": "land_price_cny_per_mu", "value": 210000, "source": "本人核实的出让公告"},
        headers={"X-API-Key": served.admin},
    )
    assert own.status_code == 201, own.text
    page.goto(served.url + "/corrections")
    row = page.locator(f'#cp-table tbody tr[data-id="{own.json()["id"]}"]')
    expect(row).to_contain_text("须由本机构另一位管理员批准")
    expect(row.get_by_role("button", name="批准")).to_be_disabled()
    shoot(page, "corrections-own")
    row.get_by_role("button", name="撤回").click()  # no note needed to withdraw one's own
    expect(page.locator("#cp-table tbody tr")).to_have_count(0)
    expect(page.locator("#cd-table tbody tr").first).to_contain_text("已驳回")


def test_a_viewer_sees_no_review_link_but_the_park_history(page: Page, served: Served) -> None:
    sign_in_as(page, served, served.viewer)
    expect(page.get_by_role("link", name="跟进")).to_be_visible()
    expect(page.get_by_role("link", name="更正审核")).to_have_count(0)
    page.goto(served.url + "/corrections")
    expect(page.locator("#cr-forbidden")).to_be_visible()
    page.goto(served.url + "/parks/" + FUNNEL_PARK["id"])
    expect(page.locator("#cor-readonly")).to_be_visible()
    expect(page.locator("#cor-form")).to_have_count(0)
    expect(page.locator("#cor-table tbody tr").first).to_contain_text("已批准")
    history = page.locator("#hist-table tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("150,000")
    expect(history.first).to_contain_text("机构提供")


def test_docs_render_from_local_files(page: Page, served: Served) -> None:
    page.goto(served.url + "/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    shoot(page, "docs")


def test_sign_out_then_be_refused(page: Page, served: Served) -> None:
    page.goto(served.url + "/find")
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(served.url + "/login")
    page.goto(served.url + "/followups")
    expect(page).to_have_url(served.url + "/login")
    status: Any = page.evaluate("fetch('/v1/feedback').then((r) => r.status)")
    assert status == 401


def test_the_browser_asked_no_other_host(served: Served) -> None:
    assert len(served.requests) > 20
    foreign = [u for u in served.requests if not u.startswith((served.url + "/", "data:", "blob:"))]
    assert foreign == []
    assert served.problems == [], served.problems

"""The workspace's pages, its offline rule and its batch runs, through ASGI."""

from __future__ import annotations

import io
import re
import time

import openpyxl
from fastapi.testclient import TestClient

from api.deps import ModelState
from tests.api.conftest import Keys, auth
from tests.api.web.conftest import sign_in

CSV = (
    "企业名称,行业代码,主营业务,疏解功能\n"
    "北京某制药有限公司,2710,,生产\n"
    "北京某冷链物流有限公司,,冷链仓储配送,物流\n"
    "北京某数据服务有限公司,6450,,数据中心\n"
    "没有行业的企业,,,\n"
).encode()


def test_every_response_forbids_other_origins(client: TestClient, keys: Keys) -> None:
    sign_in(client, keys.officer)
    for path in (
        "/login",
        "/find",
        "/parks",
        "/parks/BJ001",
        "/batch",
        "/followups",
        "/corrections",
        "/docs",
        "/v1/parks?limit=1",
    ):
        policy = client.get(path).headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'", path
        for name in ("script-src", "connect-src", "font-src"):
            assert directives[name] == "'self'", (path, name)
        assert "http" not in policy and "*" not in policy, path


def test_pages_and_docs_load_nothing_from_another_host(client: TestClient, keys: Keys) -> None:
    sign_in(client, keys.officer)
    for path in ("/login", "/find", "/parks", "/batch", "/followups", "/corrections", "/docs"):
        html = client.get(path).text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert refs and all(r.startswith(("/", "#", "data:")) for r in refs), (path, refs)
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/vendor/swagger-ui/LICENSE").status_code == 200


def test_the_park_page_shows_provenance_and_never_a_number_for_unknown(
    client: TestClient, keys: Keys
) -> None:
    sign_in(client, keys.viewer)
    state: ModelState = client.app.state.models.state  # type: ignore[attr-defined]
    park = next(p for p in state.parks if p.provenance.get("available_land_mu") == "unknown")
    html = client.get(f"/parks/{park.park_id}").text
    row = re.search(r'<tr data-field="available_land_mu">(.*?)</tr>', html, flags=re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), flags=re.S)
    assert cells[0] == "未知" and "未知" in cells[1] and not re.search(r"\d", cells[0])
    estimated = next(f for f, lvl in park.provenance.items() if lvl == "estimated")
    est = re.search(rf'<tr data-field="{estimated}">(.*?)</tr>', html, flags=re.S)
    assert est is not None and "（估）" in est.group(1) and ">估<" in est.group(1)
    assert client.get("/parks/NO-SUCH-PARK").status_code == 404


def test_only_an_admin_is_offered_the_corrections_review(client: TestClient, keys: Keys) -> None:
    link = '<a href="/corrections"'
    sign_in(client, keys.admin)
    assert link in client.get("/find").text
    review = client.get("/corrections").text
    assert "/static/corrections.js" in review and 'id="cr-forbidden"' not in review
    # the page knows whose proposals it must not offer for approval
    assert f'data-key="{keys.admin_id}"' in review
    for key in (keys.officer, keys.viewer):
        sign_in(client, key)
        assert link not in client.get("/find").text
        refused = client.get("/corrections").text
        assert 'id="cr-forbidden"' in refused and "/static/corrections.js" not in refused
    park = client.get("/parks/BJ001").text
    assert 'id="cor-readonly"' in park and 'id="cor-form"' not in park  # the viewer cannot propose
    sign_in(client, keys.officer)
    assert 'id="cor-form"' in client.get("/parks/BJ001").text


def _wait_done(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, object]:
    for _ in range(300):
        job = client.get(f"/v1/batch-jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError("the batch job did not finish")


def test_a_batch_upload_runs_through_match_file_and_returns_the_officer_xlsx(
    client: TestClient, keys: Keys
) -> None:
    h = auth(keys.officer)
    started = client.post("/v1/batch-jobs?filename=名单.csv&top=3", content=CSV, headers=h)
    assert started.status_code == 202, started.text
    job = _wait_done(client, started.json()["id"], h)
    assert job["status"] == "done", job
    assert job["summary"] == {
        "rows_read": 4,
        "matched": job["summary"]["matched"],  # type: ignore[index]
        "matched_with_warnings": job["summary"]["matched_with_warnings"],  # type: ignore[index]
        "no_feasible_park": 0,
        "rejected": 1,
    }
    result = client.get(f"/v1/batch-jobs/{job['id']}/result", headers=h)
    assert result.status_code == 200 and "attachment" in result.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(result.content), read_only=True)
    assert book.sheetnames == ["说明", "汇总", "推荐明细", "未匹配与拒绝"]
    summary = list(book["汇总"].values)
    assert len(summary) == 1 + 4
    assert sum(1 for r in list(book["推荐明细"].values)[1:] if r[0] is not None) == 3 * 3
    # another organisation's officer cannot see the job or its file
    other = auth(keys.other_org_officer)
    assert client.get(f"/v1/batch-jobs/{job['id']}", headers=other).status_code == 404
    assert client.get(f"/v1/batch-jobs/{job['id']}/result", headers=other).status_code == 404


def test_a_batch_upload_that_cannot_be_read_is_refused_in_chinese(client: TestClient, keys: Keys) -> None:
    h = auth(keys.officer)
    wrong_type = client.post("/v1/batch-jobs?filename=firms.pdf", content=b"%PDF", headers=h)
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["field"] == "filename"
    assert "请上传 .xlsx 或 .csv" in wrong_type.json()["error"]["message"]
    no_header = client.post("/v1/batch-jobs?filename=x.csv", content="甲,乙\n1,2\n".encode(), headers=h)
    assert no_header.status_code == 422 and no_header.json()["error"]["message"].startswith(
        "无法读取上传的文件"
    )
    assert client.post("/v1/batch-jobs?filename=x.csv", content=b"", headers=h).status_code == 422

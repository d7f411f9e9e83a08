"""``parkmatch brief``: PDFs written from a firm file or a park id, errors exit 2 in Chinese."""

from __future__ import annotations

import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from matcher.core import Matcher
from parkmatch.cli import main


def test_brief_firm_and_park_write_pdfs(
    tmp_path: Path, bundle_path: Path, matcher: Matcher, capsys: pytest.CaptureFixture[str]
) -> None:
    firm = tmp_path / "firm.json"
    firm.write_text(json.dumps({"name": "北京某原料药有限公司", "industry_code": "2710"}), encoding="utf-8")
    out = tmp_path / "firm.pdf"
    assert main(["brief", "firm", str(firm), "-o", str(out), "--model", str(bundle_path)]) == 0
    assert len(pdfium.PdfDocument(out.read_bytes())) == 1
    leads = tmp_path / "leads.csv"
    leads.write_text("企业名称,线索得分\n北京某线索企业,0.9\n", encoding="utf-8")
    park = str(matcher.parks["park_id"].iloc[0])
    out = tmp_path / "park.pdf"
    args = ["brief", "park", park, "--leads", str(leads), "-o", str(out), "--model", str(bundle_path)]
    assert main(args) == 0
    assert "北京某线索企业" in pdfium.PdfDocument(out.read_bytes())[0].get_textpage().get_text_range()
    assert main(["brief", "park", "NO-SUCH", "-o", str(tmp_path / "x.pdf"), "--model", str(bundle_path)]) == 2
    assert "园区编号 'NO-SUCH' 不在目录中" in capsys.readouterr().err


def test_brief_park_finds_its_leads_in_a_firm_list(tmp_path: Path, bundle_path: Path) -> None:
    firms = tmp_path / "firms.csv"
    firms.write_text(
        "name,industry_code,functions\n北京某原料药企业甲,2710,production\n北京某软件公司乙,6513,rnd\n",
        encoding="utf-8",
    )
    out = tmp_path / "park.pdf"
    args = ["brief", "park", "HE082", "--firms", str(firms), "-o", str(out), "--model", str(bundle_path)]
    assert main(args) == 0
    text = pdfium.PdfDocument(out.read_bytes())[0].get_textpage().get_text_range()
    assert "北京某原料药企业甲" in text.replace("\r", "").replace("\n", "")
    both = ["brief", "park", "HE082", "--firms", str(firms), "--leads", str(firms)]
    assert main([*both, "-o", str(tmp_path / "both.pdf"), "--model", str(bundle_path)]) == 2

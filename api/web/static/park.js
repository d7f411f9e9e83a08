// A park's page: its values are rendered by the server; this script adds 更正 — an officer's
// proposed value with its source (POST /v1/parks/{id}/corrections), the organisation's
// corrections for the park with their status, and the history of values changed by approved
// corrections (GET /v1/parks/{id}/history).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parkId = null;

  function fieldSpec(field) {
    return ref.labels.correction_fields.find((f) => f.field === field);
  }

  // The value control for the chosen field: a number, a 0–3 level, codes or function boxes.
  function valueControl() {
    const spec = fieldSpec($("cor-field").value);
    const box = $("cor-value-box");
    if (spec.kind === "functions") {
      box.replaceChildren(el("fieldset", { class: "field", id: "cor-value" }, el("legend", { text: "新值" }),
        el("div", { class: "checks" }, Object.entries(ref.labels.functions).map(([v, zh]) =>
          el("label", { class: "check" }, el("input", { type: "checkbox", value: v }), zh)))));
    } else if (spec.kind === "level") {
      const select = el("select", { id: "cor-value", required: true }, el("option", { value: "", text: "请选择" }),
        ["0", "1", "2", "3"].map((v) => el("option", { value: v, text: v })));
      box.replaceChildren(el("label", { for: "cor-value", text: "新值" }), select,
        el("p", { class: "hint", text: "政策力度 0–3：0 为没有，3 为最强" }));
    } else if (spec.kind === "codes") {
      box.replaceChildren(el("label", { for: "cor-value", text: "新值" }), el("input", { id: "cor-value", maxlength: 1000, autocomplete: "off" }),
        el("p", { class: "hint", text: "国民经济行业分类代码（2–4 位），多个用逗号或空格分隔；留空表示没有限制" }));
    } else {
      box.replaceChildren(el("label", { for: "cor-value", text: "新值" }), el("input", { id: "cor-value", inputmode: "decimal", required: true, autocomplete: "off" }));
    }
    const row = document.querySelector('table.prov-table tr[data-field="' + spec.field + '"]');
    const value = row ? row.querySelector("td").textContent : "未知";
    const now = value === "未知" || !row ? value : value + "（" + row.querySelector("td .prov").textContent + "）";
    $("cor-current").textContent = "当前值：" + now;
  }

  function readValue(spec) {
    if (spec.kind === "functions")
      return [...document.querySelectorAll("#cor-value input:checked")].map((i) => i.value);
    const text = $("cor-value").value.trim();
    if (spec.kind === "codes") {
      const codes = text ? text.split(/[\s,，、;；]+/).filter(Boolean) : [];
      if (codes.some((c) => !/^\d{2,4}$/.test(c))) throw { message: "行业代码应为 2–4 位数字", field: spec.field };
      return codes;
    }
    if (spec.kind === "level") {
      if (text === "") throw { message: "请选择政策力度", field: spec.field };
      return parseInt(text, 10);
    }
    const n = Number(text.replace(/[,，\s]/g, ""));
    if (text === "" || !Number.isFinite(n) || n < 0) throw { message: "请填写不小于 0 的数字", field: spec.field };
    return n;
  }

  async function propose(ev) {
    ev.preventDefault();
    const error = $("cor-error");
    PM.showError(error, null);
    $("cor-done").hidden = true;
    const spec = fieldSpec($("cor-field").value);
    const body = { field: spec.field, source: $("cor-source").value.trim() };
    try { body.value = readValue(spec); } catch (e) { PM.showError(error, e); return; }
    if (!body.source) { PM.showError(error, { message: "请注明依据（网址或文件名）", field: "source" }); return; }
    const note = $("cor-note").value.trim();
    if (note) body.note = note;
    try {
      await PM.api("/v1/parks/" + encodeURIComponent(parkId) + "/corrections", { method: "POST", body });
      $("cor-done").textContent = "已提交“" + spec.label + "”的更正，等待本单位管理员审核。";
      $("cor-done").hidden = false;
      $("cor-note").value = "";
      valueControl();
      await load();
    } catch (e) {
      PM.showError(error, e.status === 403 ? { message: "当前密钥不能提交更正" } : e);
    }
  }

  function statusCell(c) {
    return el("td", {}, el("span", { class: "status " + c.status, text: ref.labels.correction_status[c.status] || c.status }));
  }

  async function load() {
    const base = "/v1/parks/" + encodeURIComponent(parkId);
    try {
      const [mine, history] = await Promise.all([PM.api(base + "/corrections"), PM.api(base + "/history")]);
      const items = PM.items(mine);
      $("cor-count").textContent = "（" + items.length + " 条）";
      $("cor-empty").hidden = items.length > 0;
      $("cor-table").closest(".table-wrap").hidden = items.length === 0;
      $("cor-table").tBodies[0].replaceChildren(...items.map((c) => el("tr", { "data-id": c.id },
        el("td", { text: PM.when(c.proposed) }),
        el("td", { text: PM.correctionLabel(c.field) }),
        el("td", { text: PM.correctionValue(c.field, c.value) }),
        el("td", {}, PM.sourceNode(c.source)),
        statusCell(c),
        el("td", { text: c.decision_note || "" }))));
      PM.labelCells($("cor-table"));
      const changes = PM.items(history);
      $("hist-empty").hidden = changes.length > 0;
      $("hist-table").closest(".table-wrap").hidden = changes.length === 0;
      const prov = (p) => (p ? ref.labels.provenance[p] || p : "未知");
      $("hist-table").tBodies[0].replaceChildren(...changes.map((h) => el("tr", {},
        el("td", { text: PM.when(h.changed) }),
        el("td", { text: PM.correctionLabel(h.field) }),
        el("td", { text: PM.correctionValue(h.field, h.old_value) }),
        el("td", { text: PM.correctionValue(h.field, h.new_value) }),
        el("td", { text: prov(h.old_provenance) + " → " + prov(h.new_provenance) }))));
      PM.labelCells($("hist-table"));
      PM.showError($("cor-load-error"), null);
    } catch (e) {
      PM.showError($("cor-load-error"), e.status === 404 || e.status === 405 ? { message: "本服务器尚未提供园区更正。" } : e);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const section = $("corrections");
    if (!section) return;
    parkId = section.dataset.park;
    ref = await PM.reference();
    const form = $("cor-form");
    if (form) {
      PM.fillSelect($("cor-field"), ref.labels.correction_fields.map((f) => [f.field, f.label]));
      $("cor-field").addEventListener("change", valueControl);
      valueControl();
      form.addEventListener("submit", propose);
    }
    await load();
  });
})();

// 跟进: record what became of a firm–park pair in /v1/feedback, the organisation's conversion
// funnel by park (/v1/feedback/conversion) and its list of records.  A pair opened from a
// recommendation carries the firm's profile as 企业找园区 sent it, so the outcome can become a
// training label at the next retrain.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parks = [];

  function parkName(id) {
    const p = parks.find((x) => x.park_id === id);
    return p ? p.name : id;
  }

  // The firm 企业找园区 last matched, when it is the firm named in the form.
  function matchedProfile(name) {
    try {
      const firm = JSON.parse(sessionStorage.getItem(PM.LAST_FIRM_KEY) || "null");
      return firm && firm.name && firm.name === name ? firm : null;
    } catch (e) {
      return null;
    }
  }

  function outcomeText(f) {
    const text = ref.labels.outcomes[f.outcome] || f.outcome;
    return f.reason_category ? text + "（" + (ref.labels.reject_reasons[f.reason_category] || f.reason_category) + "）" : text;
  }

  async function list() {
    const data = await PM.api("/v1/feedback?limit=200");
    $("fu-count").textContent = "（" + data.total + " 条）";
    $("fu-table").tBodies[0].replaceChildren(...data.items.map((f) => el("tr", {},
      el("td", { text: PM.when(f.created) }),
      el("td", { text: f.firm_name }),
      el("td", {}, el("a", { href: "/parks/" + encodeURIComponent(f.park_id), text: parkName(f.park_id) })),
      el("td", { class: "outcome", text: outcomeText(f) }),
      el("td", { text: f.note || "" }))));
    PM.labelCells($("fu-table"));
  }

  function pct(rate) {
    return rate === null || rate === undefined ? "—" : Math.round(rate * 100) + "%";
  }

  function funnelCells(row) {
    return [row.shortlisted, row.visited, row.signed, row.rejected, pct(row.visit_rate), pct(row.sign_rate)]
      .map((v) => el("td", { class: "val", text: v }));
  }

  async function funnel() {
    const data = await PM.api("/v1/feedback/conversion");
    const table = $("fn-table");
    $("fn-empty").hidden = data.parks.length > 0;
    table.closest(".table-wrap").hidden = data.parks.length === 0;
    table.tBodies[0].replaceChildren(...data.parks.map((p) => el("tr", { "data-park": p.park_id },
      el("th", { scope: "row" }, el("a", { href: "/parks/" + encodeURIComponent(p.park_id), text: parkName(p.park_id) })),
      funnelCells(p))));
    table.tFoot.replaceChildren(el("tr", { class: "total" }, el("th", { scope: "row", text: "合计" }), funnelCells(data.overall)));
    PM.labelCells(table);
    const heads = [...table.tHead.rows[0].cells].map((c) => c.textContent);
    [...table.tFoot.rows[0].cells].forEach((cell, i) => { if (i > 0) cell.dataset.label = heads[i]; });
    const names = { ...ref.labels.reject_reasons, unspecified: "未注明" };
    $("fn-reasons").replaceChildren(...data.reasons.map((r) => el("li", { "data-reason": r.category },
      el("span", { text: names[r.category] || r.category }), el("strong", { text: r.count }))));
  }

  function outcomeChanged() {
    const rejected = $("fu-outcome").value === "rejected";
    $("fu-reason-field").hidden = !rejected;
    $("fu-reason").required = rejected;
    if (!rejected) $("fu-reason").value = "";
  }

  function firmChanged() {
    $("fu-profile").hidden = !matchedProfile($("fu-firm").value.trim());
  }

  async function save(ev) {
    ev.preventDefault();
    const error = $("fu-error");
    PM.showError(error, null);
    const parkId = PM.parkIdOf($("fu-park").value, parks);
    const body = { firm_name: $("fu-firm").value.trim(), park_id: parkId || "", outcome: $("fu-outcome").value };
    const note = $("fu-note").value.trim();
    if (note) body.note = note;
    if (!body.firm_name) { PM.showError(error, { message: "请填写企业名称", field: "firm_name" }); return; }
    if (!parkId) { PM.showError(error, { message: "请从列表中选择园区", field: "park_id" }); return; }
    if (body.outcome === "rejected") {
      body.reason_category = $("fu-reason").value;
      if (!body.reason_category) { PM.showError(error, { message: "请选择放弃原因", field: "reason_category" }); return; }
    }
    const firm = matchedProfile(body.firm_name);
    if (firm) body.firm = firm;
    try {
      await PM.api("/v1/feedback", { method: "POST", body });
      $("fu-note").value = "";
      await Promise.all([list(), funnel()]);
    } catch (e) {
      PM.showError(error, e.status === 403 ? { message: "当前密钥为只读，不能记录跟进" } : e);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    ref = await PM.reference();
    PM.fillSelect($("fu-outcome"), Object.entries(ref.labels.outcomes));
    PM.fillSelect($("fu-reason"), Object.entries(ref.labels.reject_reasons));
    parks = await PM.catalogue();
    PM.parkOptions($("park-options"), parks);
    const q = new URLSearchParams(window.location.search);
    if (q.get("firm")) $("fu-firm").value = q.get("firm");
    const pre = parks.find((p) => p.park_id === q.get("park"));
    if (pre) $("fu-park").value = pre.name + "（" + pre.park_id + "）";
    $("fu-outcome").addEventListener("change", outcomeChanged);
    $("fu-firm").addEventListener("input", firmChanged);
    $("fu-form").addEventListener("submit", save);
    outcomeChanged();
    firmChanged();
    await Promise.all([list(), funnel()]);
  });
})();

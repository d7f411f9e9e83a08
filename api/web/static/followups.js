// 跟进: record what became of a firm–park pair in /v1/feedback, list the organisation's records.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parks = [];

  function when(iso) {
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  async function list() {
    const data = await PM.api("/v1/feedback?limit=200");
    const names = new Map(parks.map((p) => [p.park_id, p.name]));
    $("fu-count").textContent = "（" + data.total + " 条）";
    $("fu-table").tBodies[0].replaceChildren(...data.items.map((f) => el("tr", {},
      el("td", { text: when(f.created) }),
      el("td", { text: f.firm_name }),
      el("td", {}, el("a", { href: "/parks/" + encodeURIComponent(f.park_id), text: names.get(f.park_id) || f.park_id })),
      el("td", { text: ref.labels.outcomes[f.outcome] || f.outcome }),
      el("td", { text: f.note || "" }))));
    PM.labelCells($("fu-table"));
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
    try {
      await PM.api("/v1/feedback", { method: "POST", body });
      $("fu-note").value = "";
      await list();
    } catch (e) {
      PM.showError(error, e.status === 403 ? { message: "当前密钥为只读，不能记录跟进" } : e);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    ref = await PM.reference();
    PM.fillSelect($("fu-outcome"), Object.entries(ref.labels.outcomes));
    parks = await PM.catalogue();
    PM.parkOptions($("park-options"), parks);
    const q = new URLSearchParams(window.location.search);
    if (q.get("firm")) $("fu-firm").value = q.get("firm");
    const pre = parks.find((p) => p.park_id === q.get("park"));
    if (pre) $("fu-park").value = pre.name + "（" + pre.park_id + "）";
    $("fu-form").addEventListener("submit", save);
    await list();
  });
})();

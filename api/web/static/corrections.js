// 更正审核 (admins): the organisation's pending park corrections beside the catalogue's current
// value, approved or rejected with a note through POST /v1/admin/corrections/{id}, and the
// decided ones below.  Approved values reach the catalogue at the next model update.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parks = [], people = new Map();

  function parkOf(id) {
    return parks.find((p) => p.park_id === id);
  }

  function parkLink(id) {
    const p = parkOf(id);
    return el("a", { href: "/parks/" + encodeURIComponent(id), text: p ? p.name : id });
  }

  // 提交人: the key's label and role when this admin can see the key, else its id.
  function who(keyId) {
    const k = people.get(keyId);
    if (!k) return keyId || "—";
    const role = ref.labels.roles ? ref.labels.roles[k.role] : null;
    return (k.label || keyId.slice(0, 8)) + (role ? "（" + role + "）" : "");
  }

  async function decide(c, decision, row, own) {
    const error = $("cp-error");
    PM.showError(error, null);
    const note = row.querySelector("input.decision-note").value.trim();
    if (decision === "reject" && !note && !own) {
      PM.showError(error, { message: "驳回请写明理由" });
      row.querySelector("input.decision-note").focus();
      return;
    }
    const body = { decision };
    if (note) body.note = note;
    for (const b of row.querySelectorAll("button")) b.disabled = true;
    try {
      await PM.api("/v1/admin/corrections/" + encodeURIComponent(c.id), { method: "POST", body });
    } catch (e) {
      PM.showError(error, e.status === 409 ? { message: "该更正已由他人审核，列表已刷新" } : e);
    }
    await load();
  }

  function pendingRow(c) {
    const row = el("tr", { "data-id": c.id });
    const noteId = "cp-note-" + c.id;
    // a correction is approved by someone other than its proposer (the API refuses it too)
    const own = c.proposed_by === $("cp").dataset.key;
    row.append(
      el("th", { scope: "row" }, parkLink(c.park_id)),
      el("td", { text: PM.correctionLabel(c.field) }),
      el("td", { text: PM.parkValue(parkOf(c.park_id), c.field) }),
      el("td", { class: "proposed" }, PM.correctionValue(c.field, c.value), c.note ? el("p", { class: "hint", text: "备注：" + c.note }) : null),
      el("td", {}, PM.sourceNode(c.source)),
      el("td", { text: who(c.proposed_by) }),
      el("td", { text: PM.when(c.proposed) }),
      el("td", { class: "decide" },
        el("label", { for: noteId, class: "sr", text: "审核意见" }),
        el("input", { id: noteId, class: "decision-note", maxlength: 2000, placeholder: own ? "撤回说明（可不填）" : "审核意见（驳回必填）" }),
        el("div", { class: "inline" },
          el("button", { type: "button", class: "primary approve", disabled: own, title: own ? "本人提交的更正须由本机构另一位管理员批准" : null, onclick: () => decide(c, "approve", row) }, "批准"),
          el("button", { type: "button", onclick: () => decide(c, "reject", row, own) }, own ? "撤回" : "驳回")),
        own ? el("p", { class: "hint own", text: "本人提交：须由本机构另一位管理员批准，您可撤回" }) : null));
    return row;
  }

  function decidedRow(c) {
    return el("tr", { "data-id": c.id },
      el("th", { scope: "row" }, parkLink(c.park_id)),
      el("td", { text: PM.correctionLabel(c.field) }),
      el("td", { text: PM.correctionValue(c.field, c.value) }),
      el("td", {}, PM.sourceNode(c.source)),
      el("td", {}, el("span", { class: "status " + c.status, text: ref.labels.correction_status[c.status] || c.status })),
      el("td", { text: c.decision_note || "" }),
      el("td", { text: who(c.proposed_by) }),
      el("td", { text: PM.when(c.decided) }));
  }

  async function load() {
    const list = (status) => PM.api("/v1/admin/corrections?limit=200&status=" + status).then(PM.items);
    try {
      const [pending, approved, rejected] = await Promise.all([list("pending"), list("approved"), list("rejected")]);
      const decided = approved.concat(rejected).sort((a, b) => String(b.decided).localeCompare(String(a.decided)));
      $("cp-count").textContent = "（" + pending.length + " 条）";
      $("cd-count").textContent = "（" + decided.length + " 条）";
      $("cp-empty").hidden = pending.length > 0;
      $("cd-empty").hidden = decided.length > 0;
      $("cp-table").closest(".table-wrap").hidden = pending.length === 0;
      $("cd-table").closest(".table-wrap").hidden = decided.length === 0;
      $("cp-table").tBodies[0].replaceChildren(...pending.map(pendingRow));
      $("cd-table").tBodies[0].replaceChildren(...decided.map(decidedRow));
      PM.labelCells($("cp-table"));
      PM.labelCells($("cd-table"));
    } catch (e) {
      PM.showError($("cp-error"), e.status === 404 || e.status === 405 ? { message: "本服务器尚未提供更正审核。" } : e);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    ref = await PM.reference();
    parks = await PM.catalogue();
    try {
      const keys = await PM.api("/v1/admin/keys");
      people = new Map(PM.items(keys).map((k) => [k.id, k]));
    } catch (e) { /* names are a convenience: the key ids still say who */ }
    await load();
  });
})();

// 企业找园区: the firm form, ranked parks with criteria and reasons, the map, why-not and compare.
// Everything comes from the /v1 API: POST /v1/recommendations for the ranking; the park-side
// routes /v1/recommendations/why and /v1/parks/compare when the server has them, else the
// chosen park's rank and criteria from a wider recommendation (the same scoring path).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parks = [], lastFirm = null, lastResult = null;
  const chosen = new Set();

  function firmFromForm() {
    const f = $("firm-form").elements;
    const firm = { name: f.name.value.trim() };
    const desc = f.description.value.trim();
    if (desc) firm.description = desc;
    const industry = f.industry.value.trim();
    if (industry) {
      const code = PM.codeOf(industry);
      if (!code) throw { message: "所属行业请从下拉建议中选择，或直接输入 2–4 位行业代码", field: "industry_code" };
      firm.industry_code = code;
    }
    if (f.origin_district.value) firm.origin_district = f.origin_district.value;
    const fns = [...document.querySelectorAll('#f-functions input:checked')].map((i) => i.value);
    if (fns.length) firm.functions = fns;
    const subs = [...document.querySelectorAll('#f-subsidies input:checked')].map((i) => i.value);
    if (subs.length) firm.subsidy_priorities = subs;
    for (const [name, parse] of [["land_need_mu", parseFloat], ["max_distance_km", parseFloat], ["employees", (v) => parseInt(v, 10)]]) {
      const v = f[name].value.trim();
      if (v) {
        const n = parse(v);
        if (Number.isNaN(n)) throw { message: "请填写数字", field: name };
        firm[name] = n;
      }
    }
    if (f.needs_port.value) firm.needs_port = f.needs_port.value === "true";
    if (f.pollution_level.value) firm.pollution_level = f.pollution_level.value;
    if (!firm.name) throw { message: "请填写企业名称", field: "name" };
    if (!firm.industry_code && !firm.description) throw { message: "行业代码和经营范围至少填一项", field: "industry_code" };
    return firm;
  }

  function criteriaBars(criteria) {
    const box = el("div", { class: "bars" });
    for (const [key, label] of Object.entries(ref.labels.criteria)) {
      const v = criteria ? criteria[key] : null;
      const known = v !== null && v !== undefined;
      const bar = el("div", { class: "bar" + (known ? "" : " unknown"), role: "img", "aria-label": label + (known ? " " + v.toFixed(2) : " 未知") });
      if (known) {
        const fill = el("span");
        fill.style.width = Math.max(0, Math.min(1, v)) * 100 + "%"; // CSSOM, allowed by the CSP
        bar.append(fill);
      }
      box.append(el("span", { text: label }), bar, el("span", { class: "val", text: known ? v.toFixed(2) : "未知" }));
    }
    return box;
  }

  function card(rec) {
    const box = el("input", { type: "checkbox", id: "cmp-" + rec.park_id, value: rec.park_id });
    box.checked = chosen.has(rec.park_id);
    box.addEventListener("change", () => {
      if (box.checked && chosen.size >= 3) { box.checked = false; alert("最多对比 3 个园区"); return; }
      box.checked ? chosen.add(rec.park_id) : chosen.delete(rec.park_id);
      updateCompareBar();
    });
    const follow = "/followups?firm=" + encodeURIComponent(lastFirm.name) + "&park=" + encodeURIComponent(rec.park_id);
    return el("li", { class: "card", "data-park": rec.park_id },
      el("h3", {}, el("span", { class: "rank", text: rec.rank }),
        el("a", { href: "/parks/" + encodeURIComponent(rec.park_id), text: rec.park_name }),
        el("span", { class: "where", text: [rec.province, rec.city, rec.county].filter((x, i, a) => a.indexOf(x) === i).join(" ") }),
        el("span", { class: "score", text: "综合得分 " + rec.score.toFixed(2) })),
      criteriaBars(rec.criteria),
      el("ul", { class: "reasons" }, rec.reasons.map((r) => el("li", { text: r }))),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "why", onclick: () => explain(rec.park_id) }, "为什么不是这个园区"),
        el("label", { class: "check", for: box.id }, box, "加入对比"),
        el("a", { class: "button", href: follow }, "记录跟进")));
  }

  function notes(result) {
    const out = [];
    const imputed = Object.entries(result.imputed_values || {});
    if (imputed.length)
      out.push(el("p", { class: "hint" }, "按行业先验估算（估）：" + imputed.map(([k, v]) => (ref.labels.fields[k] || k) + " " + v).join("；")));
    for (const w of result.warnings || []) out.push(el("p", { class: "notice", text: w }));
    if (result.no_match) out.push(el("p", { class: "notice", text: "无可行园区：" + result.no_match }));
    out.push(el("p", { class: "hint", text: "综合得分只用于比较同一企业的园区，不是概率；五项匹配度 0–1，越高越好；“未知”表示所依据的园区数值没有来源。" }));
    return out;
  }

  function drawMap(result) {
    const byId = new Map(parks.map((p) => [p.park_id, p]));
    const ranked = result.recommendations.map((r) => ({ ...byId.get(r.park_id), rank: r.rank, name: r.park_name }));
    PM.drawMap($("map"), ref, ranked, "推荐园区分布（编号为排名）");
  }

  async function recommend(ev) {
    ev.preventDefault();
    const error = $("firm-error");
    PM.showError(error, null);
    let firm;
    try { firm = firmFromForm(); } catch (e) { PM.showError(error, e); return; }
    const button = $("recommend");
    button.disabled = true;
    button.textContent = "正在匹配…";
    try {
      const result = await PM.api("/v1/recommendations?top=10", { method: "POST", body: firm });
      lastFirm = firm; lastResult = result;
      // 跟进 attaches this profile to an outcome recorded for the same firm (followups.js).
      try { sessionStorage.setItem(PM.LAST_FIRM_KEY, JSON.stringify(firm)); } catch (e) { /* storage off: names only */ }
      chosen.clear();
      $("res-empty").hidden = result.recommendations.length > 0;
      $("brief-go").hidden = result.recommendations.length === 0;
      if (!result.recommendations.length) $("res-empty").textContent = "没有可行的园区。";
      $("res-notes").replaceChildren(...notes(result));
      $("res-list").replaceChildren(...result.recommendations.map(card));
      updateCompareBar();
      drawMap(result);
      $("why-out").replaceChildren();
      $("compare-out").replaceChildren();
    } catch (e) {
      PM.showError(error, e);
    } finally {
      button.disabled = false;
      button.textContent = "推荐园区";
    }
  }

  function updateCompareBar() {
    $("compare-bar").hidden = chosen.size === 0;
    $("compare-count").textContent = "已选 " + chosen.size + " 个园区（2–3 个可对比）";
    $("compare-go").disabled = chosen.size < 2;
  }

  function parkName(id) {
    const p = parks.find((x) => x.park_id === id);
    return p ? p.name : id;
  }

  // The park-side route when it exists; 404/405 means this server has not got it yet.
  async function parkSide(path, body) {
    try {
      return await PM.api(path, { method: "POST", body });
    } catch (e) {
      if ((e.status === 404 && e.field !== "park_id" && e.field !== "ids") || e.status === 405) return null;
      throw e;
    }
  }

  function listOf(items) {
    return el("ul", {}, (items || []).map((x) => el("li", { text: typeof x === "string" ? x : x.text || x.detail || JSON.stringify(x) })));
  }

  async function explain(parkId) {
    const out = $("why-out");
    if (!lastFirm) { out.replaceChildren(el("p", { class: "error", role: "alert", text: "请先填写企业信息并推荐" })); return; }
    out.replaceChildren(el("p", { class: "hint", text: "正在分析 " + parkName(parkId) + "…" }));
    $("why-park").value = parkName(parkId) + "（" + parkId + "）";
    try {
      const why = await parkSide("/v1/recommendations/why?park_id=" + encodeURIComponent(parkId), lastFirm);
      out.replaceChildren(why ? whyView(why) : await whyFallback(parkId));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
    }
    document.getElementById("why-h").scrollIntoView({ block: "start" });
  }

  function gapText(gap) {
    if (gap === null || gap === undefined) return null;
    if (typeof gap === "number") return gap.toFixed(2);
    const parts = Object.entries(ref.labels.criteria).filter(([k]) => k in gap).map(([k, label]) =>
      label + " " + (gap[k] === null ? "未知" : Math.abs(gap[k]) < 0.005 ? "持平" : (gap[k] > 0 ? "低 " : "高 ") + Math.abs(gap[k]).toFixed(2)));
    return parts.length ? parts.join("；") : null;
  }

  function whyView(w) {
    const top1 = w.top1 && (w.top1.park_name || w.top1.name || w.top1);
    const excluded = Array.isArray(w.excluded_by) ? w.excluded_by.join("；") : w.excluded_by;
    const rows = [
      ["园区", w.park_name],
      ["排名", w.rank ? "第 " + w.rank + " 名（共 " + w.n_candidates + " 个候选）" : "未进入候选"],
      excluded ? ["排除原因", excluded] : null,
      w.score !== null && w.score !== undefined ? ["综合得分", Number(w.score).toFixed(2)] : null,
      top1 ? ["第一名", String(top1)] : null,
      gapText(w.gap_to_top1) ? ["比第一名", gapText(w.gap_to_top1)] : null,
      gapText(w.gap_to_top3) ? ["比第三名", gapText(w.gap_to_top3)] : null,
    ].filter(Boolean);
    return el("div", { class: "why", "data-source": "why" },
      w.summary ? el("p", { text: w.summary }) : null,
      el("dl", {}, rows.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
      w.reasons && w.reasons.length ? [el("h3", { text: "依据" }), listOf(w.reasons)] : null,
      w.needs_to_change && w.needs_to_change.length ? [el("h3", { text: "企业方面需要改变什么" }), listOf(w.needs_to_change)] : null,
      w.what_if && w.what_if.length ? [el("h3", { text: "园区条件改变后" }), listOf(w.what_if.map((x) => x.text || (x.field + "：" + x.from + " → " + x.to + "，排名变为 " + x.new_rank)))] : null);
  }

  // Without the park-side route: the same ranking, wider, and the chosen park's place in it.
  async function whyFallback(parkId) {
    const wide = await PM.api("/v1/recommendations?top=50&explain_excluded=true", { method: "POST", body: lastFirm });
    const recs = wide.recommendations;
    const hit = recs.find((r) => r.park_id === parkId);
    const top = recs[0];
    const name = parkName(parkId);
    const box = el("div", { class: "why", "data-source": "fallback" },
      el("p", { class: "hint", text: "本服务器尚未提供园区侧分析（/v1/recommendations/why），以下依据同一次推荐的排名和五项匹配度。" }));
    if (hit) {
      box.append(el("p", { text: name + " 在本企业的推荐中排第 " + hit.rank + " 名（列出前 " + recs.length + " 名）。" }));
      if (top && top.park_id !== parkId) {
        const diffs = Object.entries(ref.labels.criteria).map(([k, label]) => {
          const a = hit.criteria[k], b = top.criteria[k];
          if (a === null || a === undefined || b === null || b === undefined) return label + "：" + (a === null || a === undefined ? "本园区未知" : "第一名未知");
          return label + "：" + a.toFixed(2) + "，第一名 " + top.park_name + " " + b.toFixed(2);
        });
        box.append(el("p", { text: "与第一名相比综合得分低 " + (top.score - hit.score).toFixed(2) + "。五项匹配度：" }), listOf(diffs));
      } else {
        box.append(el("p", { text: "它就是第一名。" }));
      }
      box.append(el("h3", { text: "推荐理由" }), listOf(hit.reasons), criteriaBars(hit.criteria));
      return box;
    }
    const ex = (wide.excluded || []).find((e) => e.park_id === parkId);
    if (ex) {
      box.append(el("p", { text: name + " 被硬性条件排除：" + ex.detail }));
      return box;
    }
    box.append(el("p", { text: name + " 不在本企业的前 " + recs.length + " 名推荐中，也未被硬性条件排除：它与企业的匹配度低于这些园区。" }));
    return box;
  }

  async function compare() {
    const ids = [...chosen];
    const out = $("compare-out");
    out.replaceChildren(el("p", { class: "hint", text: "正在对比…" }));
    try {
      const got = await parkSide("/v1/parks/compare?ids=" + ids.map(encodeURIComponent).join(","), lastFirm);
      const rows = got ? got.parks : ids.map((id) => lastResult.recommendations.find((r) => r.park_id === id));
      out.replaceChildren(compareTable(rows, got ? "compare" : "fallback"));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: e.message }));
    }
    $("cmp-h").scrollIntoView({ block: "start" });
  }

  function provenanceText(prov) {
    if (!prov || typeof prov !== "object") return "—";
    const counts = {};
    for (const level of Object.values(prov)) counts[level] = (counts[level] || 0) + 1;
    return Object.entries(ref.labels.provenance).filter(([k]) => counts[k]).map(([k, zh]) => zh + " " + counts[k]).join("，") || "—";
  }

  function compareTable(rows, source) {
    const head = el("tr", {}, el("th", { scope: "col", text: "项目" }), rows.map((r) => el("th", { scope: "col", text: r.park_name })));
    const line = (label, fn) => el("tr", {}, el("th", { scope: "row", text: label }), rows.map((r) => el("td", {}, fn(r))));
    const body = [
      line("排名", (r) => (r.rank ? "第 " + r.rank + " 名" : "未进入推荐")),
      line("综合得分", (r) => PM.num(r.score)),
      ...Object.entries(ref.labels.criteria).map(([k, label]) => line(label, (r) => PM.num(r.criteria ? r.criteria[k] : null))),
      line("理由", (r) => listOf(r.reasons)),
    ];
    if (source === "compare") {
      body.push(line("数据来源", (r) => provenanceText(r.provenance)));
      if (rows.some((r) => r.excluded_by && r.excluded_by.length))
        body.push(line("排除原因", (r) => (r.excluded_by || []).join("；") || "—"));
    }
    return el("div", { class: "table-wrap", "data-source": source },
      el("table", { class: "compare" }, el("caption", { class: "sr", text: "所选园区对比" }), el("thead", {}, head), el("tbody", {}, body)));
  }

  async function init() {
    ref = await PM.reference();
    const L = ref.labels;
    $("f-functions").replaceChildren(...Object.entries(L.functions).map(([v, zh]) =>
      el("label", { class: "check" }, el("input", { type: "checkbox", value: v, name: "functions" }), zh)));
    $("f-subsidies").replaceChildren(...Object.entries(L.subsidies).map(([v, zh]) =>
      el("label", { class: "check" }, el("input", { type: "checkbox", value: v, name: "subsidy_priorities" }), zh)));
    PM.fillSelect($("f-poll"), Object.entries(L.pollution));
    PM.fillSelect($("f-origin"), ref.map.counties.filter((c) => c.province === "北京市").map((c) => [c.name, c.name]));
    PM.industryAutocomplete($("f-industry"), $("industry-options"));
    $("firm-form").addEventListener("submit", recommend);
    $("brief-go").addEventListener("click", async () => {
      if (!lastFirm) return;
      try { await PM.download("/v1/briefs/firm", lastFirm, (lastFirm.name || "企业") + "-简报.pdf"); }
      catch (e) { PM.showError($("firm-error"), e); }
    });
    $("compare-go").addEventListener("click", compare);
    $("why-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = PM.parkIdOf($("why-park").value, parks);
      if (!id) { $("why-out").replaceChildren(el("p", { class: "error", role: "alert", text: "请从列表中选择园区" })); return; }
      explain(id);
    });
    parks = await PM.catalogue();
    PM.parkOptions($("park-options"), parks);
    PM.drawMap($("map"), ref, parks, "承接园区分布");
  }

  document.addEventListener("DOMContentLoaded", init);
})();

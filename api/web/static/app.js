// Shared by every page: calls to the /v1 JSON API with the session's CSRF token, safe DOM
// building (text only, never HTML from data), the reference labels and the catalogue.
"use strict";
(function () {
  const PM = (window.PM = {});
  const meta = document.querySelector('meta[name="csrf-token"]');
  PM.csrf = meta ? meta.content : "";
  // sessionStorage key of the firm profile 企业找园区 last sent to /v1/recommendations.
  PM.LAST_FIRM_KEY = "pm.lastFirm";

  PM.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  };

  PM.ApiError = class extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || "请求失败（" + status + "）");
      this.status = status;
      this.code = err.code;
      this.field = err.field;
    }
  };

  // One call to the JSON API; the session cookie goes with it, the CSRF token in a header.
  PM.api = async function (path, opts) {
    opts = opts || {};
    const headers = { "X-CSRF-Token": PM.csrf, Accept: "application/json" };
    let body = opts.body;
    if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/octet-stream";
    }
    const res = await fetch(path, { method: opts.method || "GET", headers, body, credentials: "same-origin" });
    if (res.status === 401 && !opts.allow401) {
      window.location.assign("/login");
      throw new PM.ApiError(401, await res.json().catch(() => null));
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new PM.ApiError(res.status, data);
    return data;
  };

  // A PDF (or any file) from a POST, saved under ``filename``: fetch, then a blob link.
  PM.download = async function (path, body, filename) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "X-CSRF-Token": PM.csrf, "Content-Type": "application/json", Accept: "application/pdf" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!res.ok) throw new PM.ApiError(res.status, await res.json().catch(() => null));
    const url = URL.createObjectURL(await res.blob());
    const a = PM.el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };

  PM.showError = function (node, err) {
    if (!node) return;
    if (!err) { node.hidden = true; node.textContent = ""; return; }
    const field = err.field ? "（" + ((PM.labels && PM.labels.fields[err.field]) || err.field) + "）" : "";
    node.textContent = (err.message || String(err)) + field;
    node.hidden = false;
  };

  let refPromise = null;
  PM.reference = function () {
    if (!refPromise) {
      refPromise = fetch("/web/reference.json").then((r) => r.json()).then((ref) => {
        PM.labels = ref.labels;
        return ref;
      });
    }
    return refPromise;
  };

  let parksPromise = null;
  PM.catalogue = function () {
    if (!parksPromise) parksPromise = PM.api("/v1/parks?limit=500").then((d) => d.items);
    return parksPromise;
  };

  PM.fillSelect = function (select, entries) {
    for (const [value, label] of entries) select.append(PM.el("option", { value, text: label }));
  };

  // GB/T 4754 autocomplete, names, codes and synonyms, through /v1/industries.
  PM.industryAutocomplete = function (input, datalist) {
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (!q || /^\d{2,4}\s/.test(q)) return;
      timer = setTimeout(async () => {
        try {
          const data = await PM.api("/v1/industries?limit=20&q=" + encodeURIComponent(q));
          datalist.replaceChildren(
            ...data.items.map((i) => PM.el("option", { value: i.code + " " + i.name, text: i.level }))
          );
        } catch (e) { /* suggestions are a convenience; typing a code still works */ }
      }, 200);
    });
  };
  PM.codeOf = function (text) {
    const m = /^\s*(\d{2,4})\b/.exec(text || "");
    return m ? m[1] : null;
  };

  PM.parkOptions = function (datalist, parks) {
    datalist.replaceChildren(...parks.map((p) => PM.el("option", { value: p.name + "（" + p.park_id + "）" })));
  };
  PM.parkIdOf = function (text, parks) {
    const m = /（([^（）]+)）\s*$/.exec(text || "");
    if (m) return m[1];
    const hit = parks.find((p) => p.name === (text || "").trim() || p.park_id === (text || "").trim());
    return hit ? hit.park_id : null;
  };

  // Label each body cell with its column, for the one-block-per-row layout on a phone.
  PM.labelCells = function (table) {
    const heads = [...table.tHead.rows[0].cells].map((c) => c.textContent);
    for (const row of table.tBodies[0].rows)
      [...row.cells].forEach((cell, i) => { if (cell.tagName === "TD" && i > 0) cell.dataset.label = heads[i]; });
  };

  PM.num = function (v, digits) {
    return v === null || v === undefined || Number.isNaN(v) ? "未知" : Number(v).toFixed(digits === undefined ? 2 : digits);
  };

  PM.when = function (iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  };

  // --- park corrections (更正), shared by the park page and 更正审核 ---------------------------
  PM.correctionLabel = function (field) {
    const hit = (PM.labels.correction_fields || []).find((f) => f.field === field);
    return hit ? hit.label : (PM.labels.fields[field] || field);
  };

  // A proposed or stored value as the park page would print it; a list of functions in Chinese.
  PM.correctionValue = function (field, value) {
    if (value === null || value === undefined) return "未知";
    if (Array.isArray(value))
      return value.length ? value.map((v) => (field === "designated_functions" ? PM.labels.functions[v] || v : v)).join("、") : "无";
    if (typeof value === "number") return value.toLocaleString("zh-CN");
    if (typeof value === "boolean") return value ? "是" : "否";
    return String(value);
  };

  // A catalogue park's current value of a correctable field, with its provenance label.
  PM.parkValue = function (park, field) {
    if (!park) return "—";
    const value = field.startsWith("subsidy_") ? (park.subsidies || {})[field.slice(8)] : park[field];
    const prov = (park.provenance || {})[field] || "unknown";
    if (prov === "unknown" || value === null || value === undefined) return "未知";
    return PM.correctionValue(field, value) + "（" + (PM.labels.provenance[prov] || prov) + "）";
  };

  // 依据: a link when it is a web address, else the document's name as text.
  PM.sourceNode = function (source) {
    return /^https?:\/\//i.test(source || "")
      ? PM.el("a", { href: source, rel: "noreferrer noopener", target: "_blank", text: source })
      : document.createTextNode(source || "—");
  };

  PM.items = function (data) {
    return Array.isArray(data) ? data : (data && data.items) || [];
  };

  async function logout() {
    try {
      const data = await PM.api("/web/logout", { method: "POST", body: {} });
      window.location.assign(data.next || "/login");
    } catch (e) {
      window.location.assign("/login");
    }
  }

  async function login(ev) {
    ev.preventDefault();
    const form = ev.target;
    const error = document.getElementById("login-error");
    PM.showError(error, null);
    const key = form.elements.key.value.trim();
    if (!key) { PM.showError(error, { message: "请输入 API 密钥" }); return; }
    const res = await fetch("/web/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key }),
      credentials: "same-origin",
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) { PM.showError(error, new PM.ApiError(res.status, data)); form.elements.key.select(); return; }
    form.elements.key.value = "";
    window.location.assign(data.next || "/find");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", logout);
    const form = document.getElementById("login-form");
    if (form) { form.addEventListener("submit", login); form.elements.key.focus(); }
  });
})();

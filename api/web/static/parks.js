// 园区: the catalogue with filters (province, city, industry, designated function, platform),
// filtered here over /v1/parks so every filter combines with every other, and its map.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null, parks = [];

  function matches(p, f) {
    if (f.province && p.province !== f.province) return false;
    if (f.city && p.city !== f.city) return false;
    if (f.fn && !(p.designated_functions || []).includes(f.fn)) return false;
    if (f.platform && p.platform_type !== f.platform) return false;
    if (f.industry) {
      const code = PM.codeOf(f.industry);
      if (code) return p.industry_codes.some((c) => c.startsWith(code) || code.startsWith(c));
      return (p.leading_industries || "").includes(f.industry);
    }
    return true;
  }

  function render() {
    const f = {
      province: $("p-province").value, city: $("p-city").value, fn: $("p-function").value,
      platform: $("p-platform").value, industry: $("p-industry").value.trim(),
    };
    const hits = parks.filter((p) => matches(p, f));
    $("p-count").textContent = "（" + hits.length + " / " + parks.length + "）";
    const L = ref.labels;
    $("park-table").tBodies[0].replaceChildren(...hits.map((p) => el("tr", {},
      el("td", {}, el("a", { href: "/parks/" + encodeURIComponent(p.park_id), text: p.name })),
      el("td", { text: [p.province, p.city, p.county].filter((x, i, a) => a.indexOf(x) === i).join(" ") }),
      el("td", { text: (L.levels[p.level] || "") + " · " + (L.platform_types[p.platform_type] || p.platform_type) }),
      el("td", { text: p.leading_industries || "未知" }),
      el("td", { class: "val", text: distance(p) }))));
    PM.labelCells($("park-table"));
    PM.drawMap($("map"), ref, hits, "筛选出的园区分布");
  }

  function distance(p) {
    const prov = (p.provenance || {}).distance_km_to_beijing;
    if (prov === "unknown" || p.distance_km_to_beijing === null) return "未知";
    return Math.round(p.distance_km_to_beijing) + " 公里" + (prov === "estimated" ? "（估）" : "");
  }

  function refillCities() {
    const province = $("p-province").value;
    const keep = $("p-city").value;
    const cities = [...new Set(parks.filter((p) => !province || p.province === province).map((p) => p.city))].sort();
    $("p-city").replaceChildren(el("option", { value: "", text: "全部" }), ...cities.map((c) => el("option", { value: c, text: c })));
    if (cities.includes(keep)) $("p-city").value = keep;
  }

  async function init() {
    ref = await PM.reference();
    parks = await PM.catalogue();
    const L = ref.labels;
    PM.fillSelect($("p-province"), L.provinces.map((p) => [p, p]));
    PM.fillSelect($("p-function"), Object.entries(L.functions));
    const used = new Set(parks.map((p) => p.platform_type));
    PM.fillSelect($("p-platform"), Object.entries(L.platform_types).filter(([k]) => used.has(k)));
    refillCities();
    PM.industryAutocomplete($("p-industry"), $("industry-options"));
    $("p-province").addEventListener("change", () => { refillCities(); render(); });
    for (const id of ["p-city", "p-function", "p-platform"]) $(id).addEventListener("change", render);
    $("p-industry").addEventListener("change", render);
    $("park-filters").addEventListener("submit", (ev) => { ev.preventDefault(); render(); });
    render();
  }

  document.addEventListener("DOMContentLoaded", init);
})();

// The map, drawn here as SVG with no tiles: county points from data/jjj_counties.csv, parks,
// and rings at 50/100/150/200 km from 天安门 (走不远 is a criterion, so distance must be seen).
// Coordinates are projected to kilometres around 天安门, so the rings are true circles.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const KM_PER_DEG_LAT = 110.57;
  const PROVINCE_FILL = { "北京市": "#9fb3cf", "天津市": "#b9c7a0", "河北省": "#c9c2b3" };

  function svg(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // parks: [{park_id, name, lat, lng, rank?}] ; ranked ones are numbered and drawn on top.
  PM.drawMap = function (container, ref, parks, title) {
    const c = ref.map.center;
    const kx = 111.32 * Math.cos((c.lat * Math.PI) / 180);
    const proj = (lat, lng) => [(lng - c.lng) * kx, -(lat - c.lat) * KM_PER_DEG_LAT];
    const pts = ref.map.counties.map((k) => proj(k.lat, k.lng));
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const pad = 25;
    const x0 = Math.min(...xs) - pad, x1 = Math.max(...xs) + pad;
    const y0 = Math.min(...ys) - pad, y1 = Math.max(...ys) + pad;
    const w = x1 - x0, h = y1 - y0;
    // One screen pixel in km, so labels and markers keep their size on a phone and a desktop.
    const unit = w / Math.max(280, container.clientWidth || 560);
    container.pmMap = [ref, parks, title];
    const root = svg("svg", {
      viewBox: [x0, y0, w, h].join(" "), role: "img", "aria-labelledby": "map-title map-desc",
      preserveAspectRatio: "xMidYMid meet",
    });
    root.append(svg("title", { id: "map-title" }, title || "园区分布图"));
    root.append(svg("desc", { id: "map-desc" },
      "京津冀县区点位、园区位置，以及距天安门 50、100、150、200 公里的距离圈。"));
    const counties = svg("g", { "aria-hidden": "true" });
    ref.map.counties.forEach((k, i) => {
      counties.append(svg("circle", { cx: pts[i][0], cy: pts[i][1], r: 2.2 * unit, fill: PROVINCE_FILL[k.province] || "#ccc" }));
    });
    root.append(counties);
    const rings = svg("g", { "aria-hidden": "true" });
    for (const km of ref.map.rings_km) {
      rings.append(svg("circle", { cx: 0, cy: 0, r: km, fill: "none", stroke: "#a3231c", "stroke-width": 1.2 * unit, "stroke-dasharray": `${5 * unit} ${4 * unit}`, opacity: 0.75 }));
      rings.append(svg("text", { x: 0, y: -km - 2 * unit, "text-anchor": "middle", "font-size": 12 * unit, fill: "#7a1a14" }, km + " 公里"));
    }
    root.append(rings);
    const sorted = parks.slice().sort((a, b) => (b.rank ? 1 : 0) - (a.rank ? 1 : 0) || (b.rank || 0) - (a.rank || 0));
    const layer = svg("g", {});
    for (const p of sorted) {
      if (p.lat === null || p.lng === null || p.lat === undefined) continue;
      const [x, y] = proj(p.lat, p.lng);
      const g = svg("g", { class: "park" });
      g.append(svg("title", {}, (p.rank ? "第 " + p.rank + " 名：" : "") + p.name));
      if (p.rank) {
        g.append(svg("circle", { cx: x, cy: y, r: 9 * unit, fill: "#a3231c", stroke: "#fff", "stroke-width": 1.5 * unit }));
        g.append(svg("text", { x, y: y + 4 * unit, "text-anchor": "middle", "font-size": 11 * unit, fill: "#fff", "font-weight": 700 }, String(p.rank)));
      } else {
        g.append(svg("circle", { cx: x, cy: y, r: 3.4 * unit, fill: "#123f7a", "fill-opacity": 0.8 }));
      }
      layer.append(g);
    }
    root.append(layer);
    const star = svg("g", { "aria-hidden": "true" });
    star.append(svg("path", { d: starPath(0, 0, 8 * unit, 3.4 * unit), fill: "#e8a200", stroke: "#7a1a14", "stroke-width": 0.8 * unit }));
    star.append(svg("text", { x: -10 * unit, y: -6 * unit, "text-anchor": "end", "font-size": 13 * unit, "font-weight": 700, fill: "#1a1a1a" }, c.name));
    root.append(star);
    const legend = PM.el("p", { class: "legend" },
      PM.el("span", {}, "★ 天安门"),
      PM.el("span", {}, "红色虚线：距天安门 50 / 100 / 150 / 200 公里"),
      parks.some((p) => p.rank) ? PM.el("span", {}, "红色编号：推荐排名") : null,
      parks.some((p) => !p.rank) ? PM.el("span", {}, "蓝点：园区（" + parks.filter((p) => !p.rank).length + " 个）") : null,
      PM.el("span", {}, "灰点：县区（北京、天津、河北）"),
      PM.el("span", {}, "县区点位来源：" + ref.map.source));
    container.replaceChildren(root, legend);
  };

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const node of document.querySelectorAll(".map")) if (node.pmMap) PM.drawMap(node, ...node.pmMap);
    }, 100);
  });

  function starPath(cx, cy, R, r) {
    const pts = [];
    for (let i = 0; i < 10; i++) {
      const a = (Math.PI / 5) * i - Math.PI / 2;
      const rad = i % 2 ? r : R;
      pts.push((cx + rad * Math.cos(a)).toFixed(2) + "," + (cy + rad * Math.sin(a)).toFixed(2));
    }
    return "M" + pts.join("L") + "Z";
  }
})();

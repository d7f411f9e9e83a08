// 批量: upload a firm list to /v1/batch-jobs (the batch code path of `parkmatch match`),
// poll its progress, then offer the officer XLSX.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (...a) => PM.el(...a);
  let ref = null;

  function showJob(job) {
    const bar = $("b-progress");
    const share = job.status === "done" ? 1 : job.fraction || 0;
    bar.value = share;
    $("b-progress-label").textContent = job.filename + "：" + job.status_zh;
    const total = job.total_rows ? " / 约 " + job.total_rows + " 行" : "";
    $("b-progress-text").textContent = "已处理 " + job.rows_done + " 行" + total + "（" + Math.round(share * 100) + "%）";
    if (job.status === "done" && job.summary) {
      const s = job.summary, S = ref.labels.states;
      $("b-summary").replaceChildren(el("ul", {},
        el("li", { text: "读入 " + s.rows_read + " 行" }),
        el("li", { text: S.matched + " " + s.matched }),
        el("li", { text: S.matched_with_warnings + " " + s.matched_with_warnings }),
        el("li", { text: S.no_feasible_park + " " + s.no_feasible_park }),
        el("li", { text: S.rejected + " " + s.rejected })));
      const a = $("b-download");
      a.href = "/v1/batch-jobs/" + encodeURIComponent(job.id) + "/result";
      a.setAttribute("download", "推荐结果-" + job.filename.replace(/\.[^.]+$/, "") + ".xlsx");
      a.hidden = false;
      a.focus();
    }
    if (job.status === "failed") PM.showError($("batch-error"), { message: job.error || "匹配失败" });
  }

  async function poll(id) {
    for (;;) {
      const job = await PM.api("/v1/batch-jobs/" + encodeURIComponent(id));
      showJob(job);
      if (job.status === "done" || job.status === "failed") return;
      await new Promise((r) => setTimeout(r, 700));
    }
  }

  async function upload(ev) {
    ev.preventDefault();
    const error = $("batch-error");
    PM.showError(error, null);
    const file = $("b-file").files[0];
    if (!file) { PM.showError(error, { message: "请选择文件" }); return; }
    const button = ev.target.querySelector("button[type=submit]");
    button.disabled = true;
    $("b-download").hidden = true;
    $("b-summary").replaceChildren();
    try {
      const url = "/v1/batch-jobs?top=" + $("b-top").value + "&filename=" + encodeURIComponent(file.name);
      const job = await PM.api(url, { method: "POST", body: file });
      $("batch-status").hidden = false;
      showJob(job);
      await poll(job.id);
    } catch (e) {
      PM.showError(error, e);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    ref = await PM.reference();
    $("batch-form").addEventListener("submit", upload);
  });
})();

// ddbfleet dashboard: re-renders the page from /api/ while a job runs and
// draws the throughput charts. No libraries: it is served from the binary
// and must work with no network beyond the coordinator itself.
(function () {
  "use strict";

  var JOB_REFRESH_MS = 2000;
  var LIST_REFRESH_MS = 5000;
  var SVG = "http://www.w3.org/2000/svg";

  // ---- formatters: twins of format.go, keep them in step.
  function count(n) {
    return Math.round(n).toLocaleString("en-US");
  }
  function bytes(n) {
    var units = ["B", "kB", "MB", "GB", "TB", "PB"];
    var f = n, i = 0;
    while (Math.abs(f) >= 1000 && i < units.length - 1) { f /= 1000; i++; }
    return i === 0 ? n + " B" : f.toFixed(1) + " " + units[i];
  }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function duration(seconds) {
    var s = Math.round(Math.max(0, seconds));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad2(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad2(Math.floor(s % 3600 / 60)) + "m";
    return Math.floor(s / 86400) + "d " + pad2(Math.floor(s % 86400 / 3600)) + "h";
  }
  function isZeroTime(t) { return !t || t.indexOf("0001-01-01") === 0; }
  function time(t) {
    if (isZeroTime(t)) return "—";
    var d = new Date(t);
    return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate()) + " " +
      pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + ":" + pad2(d.getUTCSeconds()) + " UTC";
  }
  function clock(d) { return pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + ":" + pad2(d.getUTCSeconds()); }
  function rcu(cap) { return cap > 0 ? cap + " RCU/s" : "uncapped"; }
  function percent(done, total) { return total > 0 ? Math.floor(done * 100 / total) : 0; }
  function eta(v) {
    if (v.terminal) return "—";
    if (v.etaSeconds === undefined || v.etaSeconds === null) return "unknown yet";
    return duration(v.etaSeconds);
  }
  function cellTitle(s) {
    var t = "segment " + s.segment + " · " + s.state + " · " + count(s.items) + " items · " +
      s.attempts + " attempt" + (s.attempts === 1 ? "" : "s");
    if (s.state === "RUNNING" && !s.leaseLive) t += " · lease expired";
    if (s.lastError) t += " · last error: " + s.lastError;
    return t;
  }
  function terminal(state) { return state === "COMPLETED" || state === "FAILED" || state === "CANCELLED"; }

  function $(id) { return document.getElementById(id); }
  function setText(id, text) { var e = $(id); if (e && e.textContent !== text) e.textContent = text; }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // poll calls fetchOnce every interval until it reports the job is over.
  // Failures show a banner but never stop the polling: a coordinator
  // restart must not leave a page frozen.
  function poll(url, interval, onData) {
    var conn = $("conn");
    function tick() {
      fetch(url, { cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          if (conn) conn.hidden = true;
          if (onData(data)) setTimeout(tick, interval);
        })
        .catch(function () {
          if (conn) conn.hidden = false;
          setTimeout(tick, interval);
        });
    }
    tick();
  }

  // ---- job page
  function renderJob(v) {
    var state = $("state");
    state.textContent = v.state;
    state.setAttribute("data-state", v.state);
    state.className = "state state-" + v.state.toLowerCase();
    var live = $("live");
    live.className = v.terminal ? "live final" : "live";
    setText("live", v.terminal ? "final" : "live · refreshing every 2 s");
    $("job").setAttribute("data-terminal", String(v.terminal));

    setText("count-done", String(v.counts.done));
    setText("count-running", String(v.counts.running));
    setText("count-failed", String(v.counts.failed));
    setText("count-pending", String(v.counts.pending));
    setText("items", count(v.itemCount));
    setText("bytes", bytes(v.bytes));
    setText("elapsed", duration(v.elapsedSeconds));
    setText("eta", eta(v));
    setText("cap", rcu(v.readCapacityCap));
    setText("observed", time(v.observedAt));
    $("ended-part").hidden = isZeroTime(v.endTime);
    setText("ended", time(v.endTime));
    var summary = v.counts.done + " of " + v.segmentsTotal + " done (" + percent(v.counts.done, v.segmentsTotal) + "%)";
    if (v.counts.leaseExpired) summary += ", " + v.counts.leaseExpired + " with an expired lease";
    setText("segments-summary", summary);

    var lastErr = $("last-error");
    lastErr.hidden = !v.lastError;
    setText("last-error", v.lastError || "");

    renderGrid(v.segments);
    renderFailures(v.segments);
    renderManifest(v);
    drawCharts(v);
  }

  function renderGrid(segs) {
    var grid = $("segment-grid");
    var cells = grid.children;
    if (cells.length !== segs.length) {
      while (grid.firstChild) grid.removeChild(grid.firstChild);
      for (var i = 0; i < segs.length; i++) grid.appendChild(el("div", { "class": "cell", "role": "listitem" }));
    }
    for (var j = 0; j < segs.length; j++) {
      var s = segs[j], c = cells[j];
      c.setAttribute("data-segment", String(s.segment));
      if (c.getAttribute("data-state") !== s.state) c.setAttribute("data-state", s.state);
      if (s.state === "RUNNING") c.setAttribute("data-lease", s.leaseLive ? "live" : "expired");
      else c.removeAttribute("data-lease");
      var title = cellTitle(s);
      if (c.getAttribute("title") !== title) c.setAttribute("title", title);
    }
  }

  function renderFailures(segs) {
    var body = $("failures-body");
    while (body.firstChild) body.removeChild(body.firstChild);
    var n = 0;
    segs.forEach(function (s) {
      if (s.state !== "FAILED") return;
      n++;
      var tr = el("tr");
      tr.appendChild(el("td", {}, String(s.segment)));
      tr.appendChild(el("td", {}, String(s.attempts)));
      tr.appendChild(el("td", { "class": "err" }, s.lastError || ""));
      body.appendChild(tr);
    });
    $("failures").hidden = n === 0;
  }

  function renderManifest(v) {
    var box = $("manifest");
    var show = v.state === "COMPLETED" && v.manifestSummary;
    box.hidden = !show;
    if (!show) return;
    setText("manifest-key", "s3://" + v.s3Bucket + "/" + v.manifestSummaryKey);
    var dl = $("manifest-fields");
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    Object.keys(v.manifestSummary).forEach(function (k) {
      var val = v.manifestSummary[k];
      dl.appendChild(el("dt", {}, k));
      dl.appendChild(el("dd", {}, typeof val === "string" ? val : JSON.stringify(val)));
    });
  }

  function drawCharts(v) {
    var items = v.rates.map(function (r) { return { t: new Date(r.time), y: r.itemsPerSecond }; });
    var units = v.rates.map(function (r) { return { t: new Date(r.time), y: r.readUnitsPerSecond }; });
    // A rate is the average since the sample before it. With only one
    // (an export's first minutes: one recorded sample and the live
    // point) the chart draws it over that interval, rather than as a
    // lone vertex the line cannot show.
    var from = v.rates.length === 1 && v.history.length >= 2 ? new Date(v.history[v.history.length - 2].time) : null;
    drawChart($("chart-items"), items, { cls: "items", unit: "items/s", from: from });
    drawChart($("chart-rcu"), units, { cls: "rcu", unit: "RCU/s", cap: v.readCapacityCap, from: from });
  }

  // niceCeil rounds a maximum up to 1, 2 or 5 times a power of ten, so the
  // axis ticks are round numbers.
  function niceCeil(x) {
    if (!(x > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(x)));
    var m = x / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function short(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(n % 1e9 ? 1 : 0) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(n % 1e6 ? 1 : 0) + "M";
    if (n >= 1e3) return (n / 1e3).toFixed(n % 1e3 ? 1 : 0) + "k";
    return String(Math.round(n * 100) / 100);
  }

  function drawChart(node, pts, opt) {
    var W = 640, H = 220, L = 52, R = 14, T = 14, B = 28;
    while (node.firstChild) node.removeChild(node.firstChild);
    var cap = opt.cap > 0 ? opt.cap : 0;
    var n = pts.length;
    if (n === 1 && opt.from && opt.from < pts[0].t) pts = [{ t: opt.from, y: pts[0].y }, pts[0]];
    var ymax = cap;
    pts.forEach(function (p) { ymax = Math.max(ymax, p.y); });
    ymax = niceCeil(ymax * 1.08);
    var t0 = pts.length ? pts[0].t.getTime() : 0;
    var t1 = pts.length ? pts[pts.length - 1].t.getTime() : 1;
    if (t1 <= t0) { t0 -= 30000; t1 += 30000; }
    function x(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
    function y(v) { return T + (1 - v / ymax) * (H - T - B); }

    for (var i = 0; i <= 4; i++) {
      var v = ymax * i / 4, yy = y(v).toFixed(1);
      node.appendChild(svg("line", { "class": i === 0 ? "axis" : "gridline", x1: L, x2: W - R, y1: yy, y2: yy }));
      node.appendChild(svg("text", { "class": "tick", x: L - 6, y: (+yy + 4).toFixed(1), "text-anchor": "end" }, short(v)));
    }
    node.appendChild(svg("line", { "class": "axis", x1: L, x2: L, y1: T, y2: H - B }));

    if (cap) {
      var cy = y(cap).toFixed(1);
      node.appendChild(svg("line", { "class": "cap", x1: L, x2: W - R, y1: cy, y2: cy, "data-cap": String(cap) }));
      node.appendChild(svg("text", { "class": "cap-label", x: W - R - 2, y: (+cy - 5).toFixed(1), "text-anchor": "end" }, "cap " + short(cap) + " " + opt.unit));
    }
    if (!pts.length) {
      node.appendChild(svg("text", { "class": "none", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" }, "no samples yet"));
      node.setAttribute("data-points", "0");
      return;
    }
    [0, 0.5, 1].forEach(function (f) {
      var t = t0 + (t1 - t0) * f;
      var anchor = f === 0 ? "start" : f === 1 ? "end" : "middle";
      node.appendChild(svg("text", { "class": "tick", x: x(t).toFixed(1), y: H - 8, "text-anchor": anchor }, clock(new Date(t))));
    });
    var line = pts.map(function (p) { return x(p.t.getTime()).toFixed(1) + "," + y(p.y).toFixed(1); });
    var area = line.concat([x(t1).toFixed(1) + "," + y(0).toFixed(1), x(t0).toFixed(1) + "," + y(0).toFixed(1)]);
    node.appendChild(svg("polygon", { "class": "area " + opt.cls, points: area.join(" ") }));
    node.appendChild(svg("polyline", { "class": "series " + opt.cls, points: line.join(" "), "data-points": String(n) }));
    node.setAttribute("data-points", String(n));
  }

  function startJobPage(main) {
    var id = main.getAttribute("data-job-id");
    // Always fetch once, for the charts; keep going only while the job runs.
    poll("/api/jobs/" + encodeURIComponent(id), JOB_REFRESH_MS, function (v) {
      renderJob(v);
      return !v.terminal;
    });
  }

  // ---- list page
  // serverNow is the coordinator's clock, not the browser's: running
  // durations must not jump by however far the operator's laptop is off.
  var serverOffset = 0;
  function serverNow() { return Date.now() + serverOffset; }

  function renderList(jobs) {
    var table = $("jobs"), body = table.tBodies[0];
    table.hidden = jobs.length === 0;
    $("no-jobs").hidden = jobs.length !== 0;
    while (body.firstChild) body.removeChild(body.firstChild);
    var now = serverNow();
    jobs.forEach(function (j) {
      var tr = el("tr", { "data-job-id": j.exportId, "data-state": j.state });
      var link = el("td");
      link.appendChild(el("a", { href: "/jobs/" + encodeURIComponent(j.exportId) }, j.exportId));
      tr.appendChild(link);
      tr.appendChild(el("td", {}, j.kind));
      tr.appendChild(el("td", {}, j.table));
      var st = el("td");
      st.appendChild(el("span", { "class": "state state-" + j.state.toLowerCase() }, j.state));
      tr.appendChild(st);
      var segs = el("td", { "class": "segs" });
      segs.appendChild(el("progress", { max: String(j.segmentsTotal), value: String(j.segmentsDone) }));
      var label = el("span", {}, " " + j.segmentsDone + "/" + j.segmentsTotal);
      if (j.segmentsFailed) {
        label.appendChild(document.createTextNode(" · "));
        label.appendChild(el("span", { "class": "bad" }, j.segmentsFailed + " failed"));
      }
      segs.appendChild(label);
      tr.appendChild(segs);
      tr.appendChild(el("td", { "class": "num" }, count(j.itemCount)));
      tr.appendChild(el("td", { "class": "num" }, bytes(j.bytes)));
      tr.appendChild(el("td", {}, time(j.startTime)));
      var dur = isZeroTime(j.endTime) ? "running" : duration((new Date(j.endTime) - new Date(j.startTime)) / 1000);
      if (isZeroTime(j.endTime) && !isZeroTime(j.startTime)) dur = duration((now - new Date(j.startTime)) / 1000);
      tr.appendChild(el("td", { "class": "num" }, dur));
      body.appendChild(tr);
    });
    setText("observed", time(new Date(now).toISOString()));
  }

  function startListPage(main) {
    var observed = Date.parse(main.getAttribute("data-observed-at"));
    if (!isNaN(observed)) serverOffset = observed - Date.now();
    if (main.getAttribute("data-running") !== "true") return;
    poll("/api/jobs", LIST_REFRESH_MS, function (jobs) {
      renderList(jobs);
      return jobs.some(function (j) { return !terminal(j.state); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var job = $("job"), list = $("list");
    if (job) startJobPage(job);
    if (list) startListPage(list);
  });
})();

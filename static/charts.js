// kafka-pulse charts (uPlot, vendored): history from /api/v1/series, so a
// reload keeps it, then one point appended per live tick from the
// fragment's .chart-point (no polling). Local-time x axis, units on the y
// axis. Kinds: topic and group pages, the overview (the cluster's totals,
// the lag threshold drawn), and the all-clusters home (a line per cluster).
(function () {
  "use strict";
  var box = document.querySelector("section.charts[data-chart-kind]");
  if (!box || !window.uPlot) return;
  var kind = box.getAttribute("data-chart-kind");
  var RANGES = kind === "overview" || kind === "clusters"
    ? { "5m": 300, "15m": 900, "60m": 3600 }
    : { "5m": 300, "1h": 3600, "24h": 86400 };
  // Wallboards repaint without animation anyway; the page script's
  // reduced-motion rule is CSS, uPlot has no transitions to turn off.
  var wall = document.documentElement.classList.contains("wall");

  function css(name, fallback) {
    return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  }

  function number(v) {
    if (v == null || !isFinite(v)) return "—";
    return (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10).toLocaleString();
  }

  function duration(v) {
    if (v == null || !isFinite(v)) return "—";
    var s = Math.round(v);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d " + String(Math.floor(s / 3600) % 24).padStart(2, "0") + "h";
  }

  var threshold = Number(box.getAttribute("data-threshold")) || null;
  // Per chart: which point fields it plots ([field, dataset key, label,
  // constant]), the unit and the number format.
  var SPECS = {
    topic: {
      rates: { unit: "msg/s", fmt: number, fields: [["messages_in_per_sec", "in", "In"], ["messages_out_per_sec", "out", "Out"]] },
      depth: { unit: "messages", fmt: number, fields: [["depth", "depth", "Depth"]] }
    },
    group: {
      lag: { unit: "messages", fmt: number, fields: [["lag", "lag", "Lag"]] },
      lag_seconds: { unit: "", fmt: duration, fields: [["lag_seconds", "lagSeconds", "Lag time"]] }
    },
    overview: {
      flow: { unit: "msg/s", fmt: number, fields: [["messages_in_per_sec", "in", "In"], ["messages_out_per_sec", "out", "Out"]] },
      lag: { unit: "messages", fmt: number, fields: [["lag", "lag", "Total lag"]].concat(
        threshold ? [[null, null, "Lag threshold", threshold]] : []) }
    },
    clusters: {}
  }[kind];
  if (!SPECS) return;

  var hash = new URLSearchParams(location.hash.slice(1));
  var wanted = hash.get("range") || box.getAttribute("data-window");
  var range = RANGES[wanted] ? wanted : "5m";
  var charts = [];

  function plotHeight(el) {
    return parseFloat(getComputedStyle(el).getPropertyValue("--chart-h")) || 200;
  }

  function makeChart(el, spec) {
    var fg = css("--fg", "#1b1f24"), line = css("--line", "#d8dde3");
    var colors = [css("--c1", "#0969da"), css("--c2", "#bc4c00"), css("--err", "#cf222e")];
    var px = parseFloat(getComputedStyle(el).fontSize) || 14;
    var font = Math.round(wall ? px : px * 0.85) + "px system-ui, sans-serif";
    var axis = { stroke: fg, font: font, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    var series = [{}];
    spec.fields.forEach(function (field, i) {
      var style = spec.style ? spec.style(field) : {
        stroke: field[3] != null ? colors[2] : colors[i % colors.length],
        // Lines differ by shape, not only colour: the second dashed, a
        // threshold dotted.
        dash: field[3] != null ? [2, 6] : i === 1 ? [6, 4] : undefined
      };
      series.push({
        label: field[2] + (spec.unit ? " (" + spec.unit + ")" : ""),
        stroke: style.stroke,
        width: wall ? 3 : 2,
        dash: style.dash,
        value: function (u, v) { return spec.fmt(v); },
        spanGaps: false
      });
    });
    var opts = {
      width: Math.max(240, el.clientWidth),
      height: plotHeight(el),
      series: series,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [
        // Two lines of time labels fit, and labels keep apart at any size.
        Object.assign({}, axis, { size: Math.round(px * 3.6), space: Math.round(px * 6) }),
        Object.assign({}, axis, { size: Math.round(px * 5), label: spec.unit, labelFont: font, values: function (u, splits) { return splits.map(spec.fmt); } })
      ],
      // The wall's captions say which line is which (solid, dashed).
      legend: { show: !wall }
    };
    var chart = new uPlot(opts, emptyData(spec), el);
    return { el: el, spec: spec, chart: chart, data: emptyData(spec) };
  }

  function emptyData(spec) {
    var data = [[]];
    spec.fields.forEach(function () { data.push([]); });
    return data;
  }

  function showEmpty(c, text) {
    var note = c.el.parentNode.querySelector(".chart-empty");
    if (!note) {
      note = document.createElement("p");
      note.className = "chart-empty";
      c.el.parentNode.appendChild(note);
    }
    note.textContent = text; // drawn over the chart: never moves anything
    note.hidden = !text;
  }

  function valueOf(field, source) {
    return field[3] != null ? field[3] : source(field);
  }

  function load() {
    var url = box.getAttribute("data-series") + "&range=" + encodeURIComponent(range);
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { points: [] }; })
      .then(function (body) {
        var points = body.points || [];
        charts.forEach(function (c) {
          var data = emptyData(c.spec);
          points.forEach(function (p) {
            data[0].push(Date.parse(p.time) / 1000);
            c.spec.fields.forEach(function (field, i) {
              data[i + 1].push(valueOf(field, function (f) { return p[f[0]]; }));
            });
          });
          c.data = data;
          c.chart.setData(data);
          showEmpty(c, points.length ? "" : "No history yet: points appear as samples arrive.");
        });
      })
      .catch(function () {
        charts.forEach(function (c) { showEmpty(c, "History could not be loaded; retrying with the next update."); });
      });
  }

  // One new point per tick; the 24 h view (one point per minute) reloads instead.
  var lastLoad = Date.now();
  function onUpdate() {
    if (range === "24h") {
      if (Date.now() - lastLoad > 60000) { lastLoad = Date.now(); load(); }
      return;
    }
    var point = document.querySelector("#live .chart-point");
    if (!point) return;
    var t = Number(point.getAttribute("data-t")) / 1000;
    charts.forEach(function (c) {
      var xs = c.data[0];
      if (xs.length && t <= xs[xs.length - 1]) return;
      xs.push(t);
      c.spec.fields.forEach(function (field, i) {
        c.data[i + 1].push(valueOf(field, function (f) { return Number(point.dataset[f[1]]); }));
      });
      var cutoff = t - RANGES[range];
      while (xs.length && xs[0] < cutoff) c.data.forEach(function (column) { column.shift(); });
      c.chart.setData(c.data);
      showEmpty(c, "");
    });
    box.setAttribute("data-points", String(charts.length ? charts[0].data[0].length : 0));
  }

  // The all-clusters home: one line per cluster (in solid, out dashed; lag),
  // each cluster's history from its own series, joined on time.
  var clusters = [];
  function clusterCharts() {
    var palette = [css("--c1", "#0969da"), css("--c2", "#bc4c00"), css("--ok", "#1a7f37"), css("--warn", "#9a6700"), css("--err", "#cf222e")];
    box.querySelectorAll("[data-cluster-series]").forEach(function (node, i) {
      clusters.push({ name: node.getAttribute("data-cluster"), url: node.getAttribute("data-cluster-series"), color: palette[i % palette.length], t: [], in: [], out: [], lag: [] });
    });
    var flowFields = [], lagFields = [];
    clusters.forEach(function (c) {
      flowFields.push([c, "in", c.name + " in"], [c, "out", c.name + " out"]);
      lagFields.push([c, "lag", c.name + " lag"]);
    });
    // Colours by cluster; in and out differ by dash.
    var style = function (field) { return { stroke: field[0].color, dash: field[1] === "out" ? [6, 4] : undefined }; };
    SPECS.flow = { unit: "msg/s", fmt: number, fields: flowFields, style: style };
    SPECS.lag = { unit: "messages", fmt: number, fields: lagFields, style: style };
  }

  function joinClusters() {
    var tables = clusters.map(function (c) { return [c.t, c.in, c.out, c.lag]; });
    if (!tables.length) return;
    var joined = uPlot.join(tables);
    charts.forEach(function (chart) {
      var data = [joined[0]];
      chart.spec.fields.forEach(function (field) {
        var at = clusters.indexOf(field[0]);
        var column = { in: 1, out: 2, lag: 3 }[field[1]];
        data.push(joined[1 + at * 3 + column - 1]);
      });
      chart.data = data;
      chart.chart.setData(data);
      showEmpty(chart, joined[0].length ? "" : "No history yet: points appear as samples arrive.");
    });
    box.setAttribute("data-points", String(joined[0].length));
  }

  function loadClusters() {
    Promise.all(clusters.map(function (c) {
      return fetch(c.url + "&range=" + encodeURIComponent(range), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { points: [] }; })
        .then(function (body) {
          c.t = []; c.in = []; c.out = []; c.lag = [];
          (body.points || []).forEach(function (p) {
            c.t.push(Date.parse(p.time) / 1000);
            c.in.push(p.messages_in_per_sec); c.out.push(p.messages_out_per_sec); c.lag.push(p.lag);
          });
        })
        .catch(function () {});
    })).then(joinClusters);
  }

  function onClustersUpdate() {
    var changed = false;
    document.querySelectorAll("#live .chart-point[data-cluster]").forEach(function (point) {
      var c = clusters.filter(function (x) { return x.name === point.getAttribute("data-cluster"); })[0];
      var t = Number(point.getAttribute("data-t")) / 1000;
      if (!c || !t || (c.t.length && t <= c.t[c.t.length - 1])) return;
      c.t.push(t); c.in.push(Number(point.dataset.in)); c.out.push(Number(point.dataset.out)); c.lag.push(Number(point.dataset.lag));
      var cutoff = t - RANGES[range];
      while (c.t.length && c.t[0] < cutoff) { c.t.shift(); c.in.shift(); c.out.shift(); c.lag.shift(); }
      changed = true;
    });
    if (changed) joinClusters();
  }

  function reload() {
    lastLoad = Date.now();
    if (kind === "clusters") loadClusters(); else load();
  }

  function markRange() {
    box.querySelectorAll("button[data-range]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-range") === range));
    });
  }
  box.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-range]");
    if (!button) return;
    range = button.getAttribute("data-range");
    var params = new URLSearchParams(location.hash.slice(1));
    params.set("range", range);
    history.replaceState(null, "", "#" + params.toString());
    markRange();
    reload();
  });

  if (kind === "clusters") clusterCharts();
  box.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = SPECS[el.getAttribute("data-chart")];
    if (spec) charts.push(makeChart(el, spec));
  });
  document.addEventListener("pulse:update", kind === "clusters" ? onClustersUpdate : onUpdate);
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.chart.setSize({ width: Math.max(240, c.el.clientWidth), height: plotHeight(c.el) }); });
  });
  markRange();
  reload();
})();

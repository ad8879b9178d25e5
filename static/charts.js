// kafka-pulse charts (uPlot, vendored): history from /api/v1/series, so a
// reload keeps it, then one point appended per live tick from the
// fragment's .chart-point. Local-time x axis, units on the y axis.
(function () {
  "use strict";
  var box = document.querySelector("section.charts[data-series]");
  if (!box || !window.uPlot) return;
  var kind = box.getAttribute("data-chart-kind");
  var RANGES = { "5m": 300, "1h": 3600, "24h": 86400 };

  function css(name, fallback) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
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

  // Per chart: which point fields it plots, their labels and the unit.
  var SPECS = {
    topic: {
      rates: { unit: "msg/s", fmt: number, fields: [["messages_in_per_sec", "in", "In"], ["messages_out_per_sec", "out", "Out"]] },
      depth: { unit: "messages", fmt: number, fields: [["depth", "depth", "Depth"]] }
    },
    group: {
      lag: { unit: "messages", fmt: number, fields: [["lag", "lag", "Lag"]] },
      lag_seconds: { unit: "", fmt: duration, fields: [["lag_seconds", "lagSeconds", "Lag time"]] }
    }
  }[kind];
  if (!SPECS) return;

  var hash = new URLSearchParams(location.hash.slice(1));
  var range = RANGES[hash.get("range")] ? hash.get("range") : "5m";
  var charts = [];

  function makeChart(el, spec) {
    var fg = css("--fg", "#1b1f24"), line = css("--line", "#d8dde3");
    var colors = [css("--c1", "#0969da"), css("--c2", "#bc4c00")];
    var axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    var series = [{}];
    spec.fields.forEach(function (field, i) {
      series.push({
        label: field[2] + (spec.unit ? " (" + spec.unit + ")" : ""),
        stroke: colors[i % colors.length],
        width: 2,
        dash: i === 1 ? [6, 4] : undefined, // the second line differs by shape, not only colour
        value: function (u, v) { return spec.fmt(v); },
        spanGaps: false
      });
    });
    var opts = {
      width: Math.max(240, el.clientWidth),
      height: 200,
      series: series,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [
        axis,
        Object.assign({}, axis, { size: 64, label: spec.unit, values: function (u, splits) { return splits.map(spec.fmt); } })
      ],
      legend: { live: true }
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
    note.textContent = text;
    note.hidden = !text;
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
            c.spec.fields.forEach(function (field, i) { data[i + 1].push(p[field[0]]); });
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
  document.addEventListener("pulse:update", function () {
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
      c.spec.fields.forEach(function (field, i) { c.data[i + 1].push(Number(point.dataset[field[1]])); });
      var cutoff = t - RANGES[range];
      while (xs.length && xs[0] < cutoff) c.data.forEach(function (column) { column.shift(); });
      c.chart.setData(c.data);
      showEmpty(c, "");
    });
  });

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
    lastLoad = Date.now();
    load();
  });

  box.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = SPECS[el.getAttribute("data-chart")];
    if (spec) charts.push(makeChart(el, spec));
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.chart.setSize({ width: Math.max(240, c.el.clientWidth), height: 200 }); });
  });
  markRange();
  load();
})();

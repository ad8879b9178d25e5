// kafka-pulse lag heatmap of a group: partitions × minutes of the last
// hour (the minute's worst lag), from /groups/NAME/heatmap. Rows come
// ranked by lag, so a stuck partition is the top row; darker is more lag,
// and every row also says its lag in words (never colour alone). It is
// re-read on a live update at most every 15 s (a cell is a minute).
(function () {
  "use strict";
  var box = document.querySelector("section.heatmap[data-heatmap]");
  if (!box) return;
  var canvas = box.querySelector("canvas");
  var labels = box.querySelector(".heat-labels");
  var summary = box.querySelector(".heat-summary");
  var from = box.querySelector(".heat-from");
  var map = null;
  var lastLoad = 0;

  function css(name, fallback) {
    return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  }

  function rgb(hex) {
    var m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [128, 128, 128];
  }

  function number(v) { return Number(v).toLocaleString(); }

  function draw() {
    if (!map) return;
    var rows = map.rows;
    var first = labels.firstElementChild;
    var rowHeight = first ? first.getBoundingClientRect().height : 16;
    var width = canvas.clientWidth || 300;
    var ratio = window.devicePixelRatio || 1;
    canvas.style.height = Math.max(rowHeight, rows.length * rowHeight) + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(rows.length * rowHeight * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, rows.length * rowHeight);
    var lo = rgb(css("--heat-lo", "#f5f7f9")), hi = rgb(css("--heat-hi", "#cf222e"));
    var max = rows.reduce(function (m, r) { return Math.max(m, r.max_lag); }, 0);
    var cell = width / map.minutes;
    rows.forEach(function (row, y) {
      row.lags.forEach(function (lag, x) {
        if (lag == null) return; // no sample: the background shows
        // Log scale: a partition 100× behind the others stands out, and one
        // 2× behind is still visible.
        var level = max > 0 ? Math.log1p(lag) / Math.log1p(max) : 0;
        var c = lo.map(function (l, i) { return Math.round(l + (hi[i] - l) * level); });
        ctx.fillStyle = "rgb(" + c.join(",") + ")";
        ctx.fillRect(Math.floor(x * cell), y * rowHeight + 1, Math.ceil(cell), rowHeight - 2);
      });
    });
  }

  function render(body) {
    map = body.heatmap;
    var rows = map.rows;
    var items = rows.map(function (row, i) {
      var li = document.createElement("li");
      li.setAttribute("data-row", String(i));
      li.setAttribute("data-partition", row.topic + "/" + row.partition);
      li.textContent = row.topic + "/" + row.partition + " · " +
        (row.lag_now == null ? "—" : number(row.lag_now)) + (i === 0 && row.max_lag > 0 ? " ▲ most lag" : "");
      li.title = "lag now " + (row.lag_now == null ? "unknown" : number(row.lag_now)) + "; worst in the window " + number(row.max_lag);
      if (i === 0 && row.max_lag > 0) li.className = "hot";
      return li;
    });
    labels.replaceChildren.apply(labels, items);
    var hot = rows[0];
    summary.textContent = !rows.length ? "No partitions with commits yet."
      : hot.max_lag > 0
        ? "Most lag: " + hot.topic + "/" + hot.partition + " (" + number(hot.lag_now || 0) + " now, " + number(hot.max_lag) + " at worst)" +
          (map.total_rows > rows.length ? "; " + rows.length + " of " + map.total_rows + " partitions shown." : ".")
        : "No lag in the window.";
    canvas.setAttribute("aria-label", "lag heatmap: " + summary.textContent);
    if (from) from.textContent = map.minutes + " min ago";
    box.setAttribute("data-hot", hot ? hot.topic + "/" + hot.partition : "");
    draw();
  }

  function load() {
    lastLoad = Date.now();
    fetch(box.getAttribute("data-heatmap"), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) render(body); })
      .catch(function () {});
  }

  canvas.addEventListener("mousemove", function (event) {
    if (!map || !map.rows.length) return;
    var rect = canvas.getBoundingClientRect();
    var y = Math.floor((event.clientY - rect.top) / (rect.height / map.rows.length));
    var x = Math.floor((event.clientX - rect.left) / (rect.width / map.minutes));
    var row = map.rows[y];
    if (!row) return;
    var lag = row.lags[x];
    var at = new Date((map.start + x * 60) * 1000);
    canvas.title = row.topic + "/" + row.partition + " at " + at.toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit" }) +
      ": " + (lag == null ? "no sample" : "lag " + number(lag));
  });
  document.addEventListener("pulse:update", function () {
    if (Date.now() - lastLoad > 15000) load();
  });
  window.addEventListener("resize", draw);
  load();
})();

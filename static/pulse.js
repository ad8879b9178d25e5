// kafka-pulse live pages. The server renders each page's live fragment once
// per tick and pushes it over Server-Sent Events; this script swaps it in
// (htmx-style: top-level parts with an id replace the element with that
// id, otherwise the whole #live box), keeps the user's sort and filter
// across updates, shows the age of the data, and reconnects after a server
// restart. Fragments are server-rendered and escaped; everything this
// script writes itself goes through textContent.
(function () {
  "use strict";

  // Nav: mark the current page, the longest link that is the path or a
  // folder of it (a cluster's overview, /clusters/NAME, is a folder of all
  // its pages; the most specific link wins). The cluster switcher next to
  // it links to other clusters, never to this page.
  var path = location.pathname;
  var current = null;
  document.querySelectorAll('header.top nav[aria-label="Pages"] a').forEach(function (link) {
    var href = link.getAttribute("href");
    var matches = href === path || (href !== "/" && path.indexOf(href + "/") === 0);
    if (matches && (!current || href.length > current.getAttribute("href").length)) {
      current = link;
    }
  });
  if (current) current.setAttribute("aria-current", "page");

  // Event times arrive in UTC; show them in the viewer's time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var at = new Date(node.getAttribute("datetime"));
      if (!isNaN(at)) {
        node.textContent = at.toLocaleTimeString([], { hour12: false });
        node.title = at.toString();
      }
    });
  }

  // Sort and filter state, kept in the URL hash so a view can be shared.
  var state = { sort: {}, filter: "" };
  (function readHash() {
    new URLSearchParams(location.hash.slice(1)).forEach(function (value, key) {
      if (key === "q") state.filter = value;
      var m = /^sort-(.+)$/.exec(key);
      var v = /^(\d+)-(asc|desc)$/.exec(value);
      if (m && v) state.sort[m[1]] = { col: Number(v[1]), dir: v[2] };
    });
  })();
  // Keeps keys other scripts own (the charts' "range").
  function writeHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    Array.from(params.keys()).forEach(function (key) {
      if (key === "q" || key.indexOf("sort-") === 0) params.delete(key);
    });
    if (state.filter) params.set("q", state.filter);
    Object.keys(state.sort).forEach(function (id) {
      params.set("sort-" + id, state.sort[id].col + "-" + state.sort[id].dir);
    });
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function cellValue(row, col, numeric) {
    var cell = row.cells[col];
    if (!cell) return numeric ? 0 : "";
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    return numeric ? Number(raw) || 0 : raw.toLowerCase();
  }

  function applySort(table) {
    var wanted = state.sort[table.id];
    table.querySelectorAll("th button[data-col]").forEach(function (button) {
      var th = button.parentNode;
      var active = wanted && Number(button.getAttribute("data-col")) === wanted.col;
      if (active) th.setAttribute("aria-sort", wanted.dir === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    if (!wanted) return;
    var button = table.querySelector('th button[data-col="' + wanted.col + '"]');
    var numeric = button && button.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, wanted.col, numeric);
      var y = cellValue(b, wanted.col, numeric);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return wanted.dir === "asc" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function applyFilter() {
    var input = document.getElementById("filter");
    if (!input) return;
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) return;
    var needle = state.filter.toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var text = (row.getAttribute("data-filter-text") || row.textContent).toLowerCase();
      row.hidden = needle !== "" && text.indexOf(needle) < 0;
      if (!row.hidden) shown++;
    });
    var none = document.querySelector("[data-no-match]");
    if (none) none.hidden = shown > 0;
  }

  function enhance(root) {
    localTimes(root);
    document.querySelectorAll("table[data-sortable]").forEach(applySort);
    applyFilter();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("th button[data-col]");
    if (!button) return;
    var table = button.closest("table");
    var col = Number(button.getAttribute("data-col"));
    var current = state.sort[table.id];
    // Numbers sort largest first on the first click, names A to Z.
    var first = button.getAttribute("data-type") === "num" ? "desc" : "asc";
    var dir = current && current.col === col ? (current.dir === "asc" ? "desc" : "asc") : first;
    state.sort[table.id] = { col: col, dir: dir };
    applySort(table);
    writeHash();
  });

  var filterInput = document.getElementById("filter");
  if (filterInput) {
    filterInput.value = state.filter;
    filterInput.addEventListener("input", function () {
      state.filter = filterInput.value;
      applyFilter();
      writeHash();
    });
  }

  var live = document.getElementById("live");
  enhance(document);
  if (!live || !window.EventSource) return;
  var interval = Number(live.getAttribute("data-interval-ms")) || 1000;
  var connected = false;

  function refreshAge() {
    var bar = document.querySelector("[data-taken-at-ms]");
    var age = document.querySelector(".status-bar .age");
    if (!bar || !age) return;
    var takenAt = Number(bar.getAttribute("data-taken-at-ms"));
    if (!takenAt || bar.getAttribute("data-sequence") === "0") {
      age.textContent = connected ? "" : "(connection lost, reconnecting)";
      return;
    }
    var seconds = Math.max(0, Math.round((Date.now() - takenAt) / 1000));
    var stale = Date.now() - takenAt > interval * 3 + 5000;
    age.textContent = stale
      ? "STALE: no update for " + seconds + "s" +
        (connected ? " (the collector has stopped sampling)" : " (connection to kafka-pulse lost, reconnecting)")
      : "updated " + seconds + "s ago";
    age.className = stale ? "age badge err" : "age";
  }

  function swap(html) {
    var template = document.createElement("template");
    template.innerHTML = html; // server-rendered, escaped fragment; inert until inserted
    var parts = Array.prototype.filter.call(template.content.children, function (node) {
      return node.id && document.getElementById(node.id);
    });
    if (parts.length > 0) {
      parts.forEach(function (node) { document.getElementById(node.id).replaceWith(node); });
    } else {
      live.replaceChildren(template.content);
    }
    enhance(live);
    refreshAge();
    document.dispatchEvent(new CustomEvent("pulse:update"));
  }

  var source;
  function connect() {
    source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("overview", function (event) { swap(event.data); });
    source.addEventListener("fragment", function (event) { swap(event.data); });
    source.onopen = function () { connected = true; refreshAge(); };
    source.onerror = function () {
      connected = false;
      refreshAge();
      // EventSource retries by itself after a dropped connection, but gives
      // up for good on an HTTP error answer: start over after a pause.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
  }
  connect();
  // Close the stream when leaving the page: browsers allow only 6
  // connections per host, and a page kept in the back/forward cache would
  // otherwise hold one open. Reconnect if the page is shown again.
  window.addEventListener("pagehide", function () { source.close(); });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) connect();
  });
  setInterval(refreshAge, 1000);
  refreshAge();
})();

// The replays page: start a replay (POST JSON), show every replay's progress
// (GET every interval while the page is open), cancel (DELETE). Every value
// goes into the page with textContent, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("replay-form");
  var table = document.getElementById("replay-list");
  var message = document.getElementById("replay-message");
  if (!table) return;
  var interval = Number(table.getAttribute("data-interval-ms")) || 1000;
  // Every write carries the page's CSRF token (see the README, "Exposing
  // kafka-pulse"): another site's page cannot read it, so cannot write.
  var csrf = table.getAttribute("data-csrf") || "";
  // This cluster's API (/api/v1, or /api/v1/clusters/NAME with several
  // clusters, where /api/v1/replays answers 409).
  var api = table.getAttribute("data-api") || "/api/v1";
  var here = table.getAttribute("data-cluster") || "";
  var numbers = new Intl.NumberFormat();

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function badgeClass(state) {
    return { running: "warn", finished: "ok", cancelled: "bad", failed: "err" }[state] || "warn";
  }

  function render(replays) {
    var body = table.tBodies[0];
    var rows = document.createDocumentFragment();
    if (replays.length === 0) {
      var empty = document.createElement("tr");
      cell(empty, "No replays yet: fill in the form above to start one.", "empty").colSpan = 9;
      rows.appendChild(empty);
    }
    replays.forEach(function (replay) {
      var p = replay.progress;
      var tr = document.createElement("tr");
      tr.setAttribute("data-replay", replay.id);
      cell(tr, replay.id);
      // Across clusters both are named; within this one the topics say it.
      var crossing = replay.to_cluster && replay.to_cluster !== replay.from_cluster;
      cell(tr, crossing
        ? replay.from + " (" + replay.from_cluster + ") → " + replay.to + " (" + replay.to_cluster + ")"
        : replay.from + " → " + replay.to, "name");
      cell(tr, replay.speed);
      var state = cell(tr, "");
      var badge = document.createElement("span");
      badge.className = "badge " + badgeClass(replay.state);
      badge.textContent = replay.state.toUpperCase();
      state.appendChild(badge);
      cell(tr, numbers.format(p.messages_written) + (p.planned_messages ? " / " + numbers.format(p.planned_messages) : ""), "num");
      cell(tr, numbers.format(Math.round(p.messages_per_second)) + " msg/s", "num");
      cell(tr, replay.state === "running" && p.eta_seconds != null ? Math.round(p.eta_seconds) + "s" : "—", "num");
      var details = [];
      if (replay.error) details.push(replay.error);
      if (replay.report && replay.report.timing_error) {
        var t = replay.report.timing_error;
        details.push("timing error mean " + t.mean_ms.toFixed(1) + " ms, p99 " + t.p99_ms.toFixed(1) + " ms");
      }
      (replay.warnings || []).forEach(function (w) { details.push(w); });
      cell(tr, details.join("; "), "reason");
      var actions = cell(tr, "");
      if (replay.state === "running") {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = "Cancel";
        button.addEventListener("click", function () { cancel(replay.id); });
        actions.appendChild(button);
      }
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  function refresh() {
    fetch(api + "/replays", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { render(data.replays || []); })
      .catch(function () { /* the server restarts: try again next tick */ });
  }

  function cancel(id) {
    fetch(api + "/replays/" + encodeURIComponent(id), {
      method: "DELETE",
      headers: { "X-CSRF-Token": csrf }
    })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (j) { say(j.error || "the replay could not be cancelled"); });
      })
      .catch(function (e) { say("cannot reach kafka-pulse: " + e); })
      .then(refresh);
  }

  // Without --enable-writes the page has no form: the list still updates.
  if (form) form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var body = {
      from: data.get("from").trim(),
      to: data.get("to").trim(),
      keep_partition: data.get("keep_partition") === "on",
      keep_timestamps: data.get("keep_timestamps") === "on",
      create_target: data.get("create_target") === "on"
    };
    ["speed", "start_offset", "start_time"].forEach(function (name) {
      var value = (data.get(name) || "").trim();
      if (value) body[name] = value;
    });
    var target = data.get("to_cluster");
    if (target && target !== here) body.to_cluster = target;
    var count = (data.get("count") || "").trim();
    if (count) body.count = Number(count);
    say("");
    fetch(api + "/replays", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": data.get("csrf") || csrf },
      body: JSON.stringify(body)
    })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (answer) {
        if (!answer.ok) say(answer.body.error || "the replay could not start");
        refresh();
      })
      .catch(function (e) { say("cannot reach kafka-pulse: " + e); });
  });

  refresh();
  setInterval(refresh, Math.max(1000, interval));
})();

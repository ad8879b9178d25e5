// kafka-pulse live updates: the server renders the overview fragment once per
// tick and pushes it over Server-Sent Events; we swap it in. EventSource
// reconnects by itself after a server restart.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var interval = Number(live.getAttribute("data-interval-ms")) || 1000;
  var connected = false;

  function refreshAge() {
    var bar = live.querySelector("[data-taken-at-ms]");
    var age = live.querySelector(".age");
    if (!bar || !age) return;
    var takenAt = Number(bar.getAttribute("data-taken-at-ms"));
    if (!takenAt) return;
    var seconds = Math.max(0, Math.round((Date.now() - takenAt) / 1000));
    var stale = Date.now() - takenAt > interval * 3 + 5000;
    age.textContent = stale
      ? "STALE: no update for " + seconds + "s" + (connected ? " (collector stopped?)" : " (connection lost, reconnecting)")
      : "updated " + seconds + "s ago";
    age.className = stale ? "age badge err" : "age";
  }

  var source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("overview", function (event) {
    live.innerHTML = event.data;
    refreshAge();
  });
  source.onopen = function () { connected = true; };
  source.onerror = function () { connected = false; refreshAge(); };
  setInterval(refreshAge, 1000);
  refreshAge();
})();

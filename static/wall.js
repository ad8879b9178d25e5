// kafka-pulse wallboard rotation: after data-rotate-ms the page moves on
// to data-rotate-next (both set by the server, which checked ?rotate=),
// with a countdown so people see it coming.
(function () {
  "use strict";
  var body = document.body;
  var next = body.getAttribute("data-rotate-next");
  var ms = Number(body.getAttribute("data-rotate-ms"));
  if (!next || !(ms >= 5000)) return;
  var at = Date.now() + ms;
  var countdown = document.querySelector("#wall-next .countdown");
  function tick() {
    var left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    if (countdown) countdown.textContent = "in " + left + "s";
    if (left <= 0) {
      location.assign(next);
      return;
    }
    setTimeout(tick, 1000);
  }
  tick();
})();

// Live progress: while a page's #live section says "running", fetch the same page every two
// seconds and swap that section in; stop once it says "done". No other script in the console.
(function () {
  "use strict";
  var EVERY_MS = 2000;
  function tick() {
    var live = document.getElementById("live");
    if (!live || live.getAttribute("data-live") !== "running") return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.replaceWith(fresh);
      })
      .catch(function () { /* try again on the next tick */ })
      .finally(function () { window.setTimeout(tick, EVERY_MS); });
  }
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(tick, EVERY_MS); });
})();

// The Map Run page: refresh the counts and the progress bar once a second while the run runs.
(function () {
  "use strict";
  var root = document.getElementById("maprun");
  if (!root || root.getAttribute("data-final") === "true") return;
  var url = root.getAttribute("data-live");
  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        var part = root.querySelector('[data-part="summary"]');
        if (part && data.parts) part.innerHTML = data.parts.summary;
        if (data.final) {
          root.setAttribute("data-final", "true");
          var form = document.getElementById("mr-update");
          if (form) form.hidden = true;
          return;
        }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();

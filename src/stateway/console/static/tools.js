// Page tools: graph zoom, history expand/collapse. Progressive enhancement, like console.js.
// Graph zoom: fit to width (the default, every state visible) or actual size and zoom, with
// scrolling. The choice sits on the wrapper, so it survives the live refresh of the drawing.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("[data-graph]") : null;
    if (!button) return;
    var wrap = button.closest(".graph-wrap");
    if (!wrap) return;
    var how = button.getAttribute("data-graph");
    var zoom = parseFloat(wrap.getAttribute("data-zoom") || "1");
    if (how === "fit") { wrap.classList.remove("zoomed"); zoom = 1; }
    else {
      if (how === "in") zoom = Math.min(4, zoom * 1.25);
      else if (how === "out") zoom = Math.max(0.2, zoom / 1.25);
      else zoom = 1;
      wrap.classList.add("zoomed");
    }
    wrap.setAttribute("data-zoom", String(zoom));
    wrap.style.setProperty("--zoom", String(zoom));
    wrap.querySelectorAll("[data-graph=fit], [data-graph=actual]").forEach(function (b) {
      var on = (b.getAttribute("data-graph") === "fit") !== wrap.classList.contains("zoomed");
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  });
})();
// History: expand or collapse every event of the page at once.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("[data-history]") : null;
    if (!button) return;
    var open = button.getAttribute("data-history") === "open";
    var list = document.querySelector("#history .events");
    if (!list) return;
    list.querySelectorAll("details").forEach(function (d) { d.open = open; });
  });
})();
// Timeline zoom: widen the time tracks (the timeline then scrolls sideways).
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("[data-tl]") : null;
    if (!button) return;
    var wrap = button.closest(".tl-wrap");
    var zoom = parseFloat(wrap.getAttribute("data-zoom") || "1");
    var how = button.getAttribute("data-tl");
    zoom = how === "in" ? Math.min(50, zoom * 2) : how === "out" ? Math.max(1, zoom / 2) : 1;
    wrap.setAttribute("data-zoom", String(zoom));
    wrap.style.setProperty("--tz", String(zoom));
  });
})();

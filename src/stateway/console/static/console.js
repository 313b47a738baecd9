// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  // JSON editors: check the text parses to an object before the form is sent.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("json-form")) return;
    var area = form.querySelector("textarea.json");
    var out = form.querySelector(".json-error");
    if (!area) return;
    var problem = "";
    try {
      var value = JSON.parse(area.value.trim() || "{}");
      if (value === null || typeof value !== "object" || Array.isArray(value)) problem = "The JSON must be an object, like {\"key\": \"value\"}.";
    } catch (e) {
      problem = "This is not valid JSON: " + e.message;
    }
    if (problem) {
      ev.preventDefault();
      if (out) out.textContent = problem;
      area.setAttribute("aria-invalid", "true");
      area.focus();
    } else if (out) {
      out.textContent = "";
      area.removeAttribute("aria-invalid");
    }
  });

  // The execution page: poll once a second while the execution runs; swap the parts that changed.
  var root = document.getElementById("execution");
  if (!root || root.getAttribute("data-final") === "true") return;
  var url = root.getAttribute("data-live");
  var known = root.getAttribute("data-n");
  var tasksKey = null;
  function busy(part) {  // do not replace what the user is typing into
    var el = document.activeElement;
    if (part.querySelector("details[open]")) return true;
    return el && part.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT");
  }
  function tick() {
    var query = window.location.search ? window.location.search + "&" : "?";
    fetch(url + query + "n=" + encodeURIComponent(known), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        if (data.parts) {
          Object.keys(data.parts).forEach(function (name) {
            var part = root.querySelector('[data-part="' + name + '"]');
            if (!part) return;
            if (name === "tasks") {
              if (data.tasks_key === tasksKey || busy(part)) return;
              tasksKey = data.tasks_key;
            }
            if (name === "history" && part.querySelector("details[open]")) return;
            part.innerHTML = data.parts[name];
          });
          known = data.n;
          root.setAttribute("data-n", known);
        }
        if (data.final) {
          root.setAttribute("data-final", "true");
          var stop = document.getElementById("stop");
          if (stop) stop.hidden = true;
          return;
        }
        setTimeout(tick, 700);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  tasksKey = root.getAttribute("data-tasks");
  setTimeout(tick, 700);
})();

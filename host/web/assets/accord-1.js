// Accord dashboard: live counts over server-sent events. Everything else
// is plain forms, enhanced by htmx where a page says so.
(function () {
  "use strict";
  function follow(section) {
    var url = section.getAttribute("data-live");
    var target = document.getElementById(section.getAttribute("data-live-target"));
    var state = section.querySelector("[data-live-state]");
    if (!url || !target || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("counts", function (e) {
      target.innerHTML = e.data;
      section.setAttribute("data-live-updated", String(Date.now()));
    });
    source.addEventListener("open", function () {
      section.classList.add("connected");
      if (state) state.textContent = "Live: new accepts appear here without a reload.";
    });
    source.addEventListener("error", function () {
      section.classList.remove("connected");
      if (state) state.textContent = "Reconnecting…";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(follow);
  });
})();

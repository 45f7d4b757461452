// Podium console: expiry countdowns (no other script of ours; htmx does the live parts).
(function () {
  "use strict";
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var left = Math.round(parseFloat(el.getAttribute("data-expires")) - now);
      if (left <= 0) { el.textContent = "expired"; return; }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = "in " + (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
// The quickstart's login link (/login#pdm_...): fill the form from the fragment, forget the
// fragment (it never reached the server), and log in.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var field = document.getElementById("api_key");
  var hash = window.location.hash.slice(1);
  if (!field || hash.indexOf("pdm_") !== 0) { return; }
  history.replaceState(null, "", window.location.pathname);
  field.value = hash;
  field.form.submit();
});

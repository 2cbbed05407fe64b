// ScaiVault console: the only script, loaded from 'self' (the Content-Security-Policy allows no other).
// Pages work without it; it adds a confirmation before destructive actions and live "time left".
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

(function () {
  var serverNow = parseFloat(document.body.getAttribute("data-now"));
  if (isNaN(serverNow)) {
    return;
  }
  var skew = serverNow - Date.now() / 1000; // count on the server's clock, not the browser's

  function span(seconds) {
    if (seconds < 60) {
      return seconds + "s";
    }
    var minutes = Math.floor(seconds / 60), hours = Math.floor(minutes / 60);
    minutes -= hours * 60;
    return (hours ? hours + "h" : "") + (minutes ? minutes + "m" : "");
  }

  function tick() {
    var now = Date.now() / 1000 + skew;
    document.querySelectorAll("[data-until]").forEach(function (cell) {
      var seconds = Math.round(parseFloat(cell.getAttribute("data-until")) - now);
      cell.textContent = seconds >= 0 ? "in " + span(seconds) : span(-seconds) + " ago";
      cell.classList.toggle("error-text", seconds < 0);
    });
  }

  window.setInterval(tick, 1000);
})();

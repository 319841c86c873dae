// A report's page while it is generated: poll its status, show the progress, and reload
// the page (with its download links) once it is finished. Served as a file, not inline,
// so that the Content-Security-Policy allows scripts from the hub only.
"use strict";
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.finished === "1") return;
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
      document.getElementById("status").textContent = s.status;
      document.getElementById("bar").value = s.progress_pct;
      document.getElementById("message").textContent = s.message;
      if (s.error) { var e = document.getElementById("error"); e.hidden = false; e.textContent = "Error: " + s.error; }
      if (s.finished) { window.location.reload(); } else { setTimeout(poll, 1500); }
    }).catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();

// Emissions Hub pages: draw the figures embedded in the page, sort tables, show the custom
// range only when chosen, confirm destructive buttons, and poll a running run's live JSON.
"use strict";
(function () {
  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  // Maps: plotly.js fetches its country outlines from <topojsonURL>/world_110m.json,
  // by default on a CDN; the chart element names the hub's own static folder instead.
  function configFor(el) {
    if (!el.dataset.topojson) return CONFIG;
    return Object.assign({}, CONFIG, { topojsonURL: el.dataset.topojson });
  }

  function draw(el, fig) {
    if (!window.Plotly || !fig || !fig.data || fig.data.length === 0) return;
    el.classList.remove("empty");
    if (el.dataset.drawn) {
      window.Plotly.react(el, fig.data, fig.layout, configFor(el));
    } else {
      window.Plotly.newPlot(el, fig.data, fig.layout, configFor(el));
      el.dataset.drawn = "1";
      // Points that carry a URL (runs on the experiment scatter) open it on click.
      el.on("plotly_click", function (ev) {
        var p = ev && ev.points && ev.points[0];
        if (p && typeof p.customdata === "string" && p.customdata.charAt(0) === "/") window.location.href = p.customdata;
      });
    }
  }

  function drawAll() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var src = document.getElementById(el.dataset.figure);
      if (src) draw(el, JSON.parse(src.textContent));
    });
  }

  function sortable(table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th, index) {
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th[aria-sort]").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var numeric = th.dataset.sort === "num";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[index], y = b.cells[index];
          var vx = x.dataset.value !== undefined ? x.dataset.value : x.textContent.trim();
          var vy = y.dataset.value !== undefined ? y.dataset.value : y.textContent.trim();
          var c;
          if (numeric) {
            var nx = parseFloat(vx), ny = parseFloat(vy);
            nx = isNaN(nx) ? -Infinity : nx; ny = isNaN(ny) ? -Infinity : ny;
            c = nx - ny;
          } else {
            c = vx.localeCompare(vy);
          }
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }

  function periodForm() {
    document.querySelectorAll("[data-period-select]").forEach(function (select) {
      var range = select.form.querySelector("[data-custom-range]");
      if (!range) return;
      function sync() { range.hidden = select.value !== "custom"; }
      select.addEventListener("change", sync);
      sync();
    });
  }

  function confirms() {
    document.querySelectorAll("[data-confirm]").forEach(function (btn) {
      btn.addEventListener("click", function (e) { if (!window.confirm(btn.dataset.confirm)) e.preventDefault(); });
    });
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var text = document.getElementById(btn.dataset.copy).textContent;
        if (navigator.clipboard) navigator.clipboard.writeText(text).then(function () { btn.textContent = "Copied"; }, function () {});
      });
    });
  }

  // The "How each component was measured" table of the run page, rebuilt from the rows
  // of the live JSON (text only: nothing from the JSON is parsed as HTML).
  function updateMethods(rows) {
    var table = document.getElementById("methods");
    if (!table || !rows) return;
    var body = table.tBodies[0];
    while (body.rows.length) body.deleteRow(0);
    rows.forEach(function (m) {
      var tr = body.insertRow();
      tr.dataset.method = m.component + "-" + m.method;
      [m.component, m.label, m.energy, m.intervals].forEach(function (text, i) {
        var td = tr.insertCell();
        td.textContent = text;
        if (i >= 2) td.className = "num";
      });
    });
    table.hidden = rows.length === 0;
    var empty = document.getElementById("methods-empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  function live() {
    var box = document.getElementById("live");
    if (!box) return;
    var note = box.querySelector("[data-live-note]");
    var timer = null;
    function update(state) {
      Object.keys(state.numbers || {}).forEach(function (key) {
        document.querySelectorAll('[data-number="' + key + '"]').forEach(function (el) { el.textContent = state.numbers[key]; });
      });
      updateMethods(state.methods);
      Object.keys(state.figures || {}).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) draw(el, state.figures[id]);
      });
      if (note) note.textContent = "Last update " + new Date().toLocaleTimeString() + ".";
      if (!state.running) {
        clearInterval(timer);
        box.classList.add("stopped");
        box.querySelector("[data-live-text]").textContent = "The run is " + state.status + "; updates stopped.";
      }
    }
    function poll() {
      fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(update)
        .catch(function () { if (note) note.textContent = "Could not reach the hub; retrying."; });
    }
    timer = setInterval(poll, parseInt(box.dataset.pollMs, 10) || 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    document.querySelectorAll("table.sortable").forEach(sortable);
    periodForm();
    confirms();
    live();
  });
})();

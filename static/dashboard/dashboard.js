// The dashboard: sort and filter the project table, draw a project's figures, and the admin's refresh.
(function () {
  "use strict";
  var TOKEN_KEY = "project-tracker-admin-token";

  function drawFigures() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("script.figure-data").forEach(function (holder) {
      var figure = JSON.parse(holder.textContent);
      Plotly.newPlot(document.getElementById(holder.dataset.target), figure.data, figure.layout,
        {responsive: true, displaylogo: false, showLink: false, showSendToCloud: false});
    });
  }

  function setupTable() {
    var table = document.getElementById("projects");
    if (!table) { return; }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    table.querySelectorAll("th[data-key]").forEach(function (heading, column) {
      heading.setAttribute("aria-sort", "none");
      heading.querySelector("button").addEventListener("click", function () {
        var ascending = heading.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th[data-key]").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = heading.dataset.type === "number";
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
          var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (row) { fragment.appendChild(row); });
        body.appendChild(fragment);
      });
    });
    var filter = document.getElementById("filter");
    var shown = document.getElementById("shown");
    filter.addEventListener("input", function () {
      var needle = filter.value.trim().toLowerCase();
      var count = 0;
      rows.forEach(function (row) {
        var match = !needle || row.dataset.search.indexOf(needle) !== -1;
        row.hidden = !match;
        if (match) { count += 1; }
      });
      shown.textContent = count + " projects";
    });
  }

  function setupAdmin() {
    var form = document.getElementById("token-form");
    if (!form) { return; }
    var input = document.getElementById("token");
    var status = document.getElementById("job-status");
    var progress = document.getElementById("progress");
    var failed = document.getElementById("failed");
    input.value = sessionStorage.getItem(TOKEN_KEY) || "";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      status.textContent = "Token kept for this browser session.";
    });
    document.getElementById("forget").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      input.value = "";
      status.textContent = "Token forgotten.";
    });
    function headers() {
      var token = sessionStorage.getItem(TOKEN_KEY);
      return token ? {"Authorization": "Bearer " + token} : {};
    }
    function showFailures(job) {
      failed.replaceChildren();
      var errors = (job && job.errors) || [];
      if (!errors.length) {
        var none = document.createElement("li");
        none.textContent = "None.";
        failed.appendChild(none);
      }
      errors.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item.repository + ": " + item.error;
        failed.appendChild(li);
      });
    }
    function show(job) {
      progress.value = job.progress || 0;
      progress.textContent = (job.progress || 0) + "%";
      status.textContent = "Refresh " + job.status + ": " + job.repositories_processed + " of " +
        (job.total_repositories === null ? "?" : job.total_repositories) + " repositories (" + (job.progress || 0) + "%)";
      if (job.status === "completed" || job.status === "failed") { showFailures(job); }
    }
    function poll(url) {
      fetch(url, {headers: headers()}).then(function (answer) { return answer.json(); }).then(function (job) {
        show(job);
        if (job.status === "queued" || job.status === "running") { setTimeout(function () { poll(url); }, 1000); }
      }).catch(function (error) { status.textContent = "Cannot read the refresh status: " + error; });
    }
    document.getElementById("refresh").addEventListener("click", function () {
      status.textContent = "Starting a refresh…";
      fetch("/api/refresh?force=1", {method: "POST", headers: headers()}).then(function (answer) {
        return answer.json().then(function (body) { return {ok: answer.ok, body: body}; });
      }).then(function (result) {
        if (!result.ok) { status.textContent = "Refresh refused: " + (result.body.error || "error"); return; }
        poll(result.body.check_status_url);
      }).catch(function (error) { status.textContent = "Cannot start a refresh: " + error; });
    });
    fetch("/api/refresh/jobs", {headers: headers()}).then(function (answer) {
      return answer.ok ? answer.json() : null;
    }).then(function (page) {
      var jobs = page;
      if (Array.isArray(jobs) && jobs.length) { show(jobs[0]); showFailures(jobs[0]); }
    }).catch(function () { /* no history to show */ });
  }

  setupTable();
  setupAdmin();
  drawFigures();
})();

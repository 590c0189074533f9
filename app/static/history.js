// "Site history": preview what restoring a version changes, confirm by typing the site's name,
// poll the job like the export, then reload (the page shows the outcome and "Undo restore").
(function () {
  "use strict";
  var POLL_MS = 1000;
  var section = document.getElementById("history");
  if (!section) return;
  var csrf = document.getElementById("history-csrf").value;
  var subdomain = section.dataset.subdomain;
  var preview = document.getElementById("history-preview");
  var summary = document.getElementById("history-summary");
  var effects = document.getElementById("history-effects");
  var name = document.getElementById("history-name");
  var confirmButton = document.getElementById("history-confirm");
  var cancelButton = document.getElementById("history-cancel");
  var box = document.getElementById("history-progress");
  var bar = document.getElementById("history-bar");
  var text = document.getElementById("history-text");
  var result = document.getElementById("history-result");
  var undoButton = document.getElementById("history-undo");
  var undoConfirm = document.getElementById("history-undo-confirm");
  var undoYes = document.getElementById("history-undo-yes");
  var undoNo = document.getElementById("history-undo-no");
  var restoreButtons = Array.prototype.slice.call(document.querySelectorAll(".restore-version"));
  var chosen = null;

  var get = window.stinkyApi.get;

  function post(url, body) {
    return window.stinkyApi.post(url, JSON.stringify(body || {}), csrf, "application/json");
  }

  function show(message, bad) {
    result.hidden = false;
    result.className = bad ? "result bad" : "result";
    result.textContent = message;
  }

  function busy(on) {
    restoreButtons.forEach(function (button) { button.disabled = on; });
  }

  function showPreview(version, button) {
    button.closest("li").appendChild(preview);  // under the version it is about
    summary.textContent = "Restore the version of " + version.created_text + " (" +
      version.rows.pages + " pages, " + version.files.count + " media files)? " +
      (version.offsite ? "It is an off-site copy: the server fetches it first. " : "") + "This will:";
    effects.textContent = "";
    var lines = version.restore.length ? version.restore : ["change nothing that the pages and media show"];
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line;
      effects.appendChild(item);
    });
    name.value = "";
    confirmButton.disabled = true;
    result.hidden = true;
    undoButton.hidden = true;
    undoConfirm.hidden = true;
    preview.hidden = false;
    preview.scrollIntoView({ block: "nearest" });
    name.focus();
  }

  function showProgress(job) {
    busy(true);
    preview.hidden = true;
    box.hidden = false;
    result.hidden = true;
    undoButton.hidden = true;
    undoConfirm.hidden = true;
    var p = job.progress || {};
    if (job.state === "running" && p.phase === "fetching") {
      bar.removeAttribute("value");  // one download: no count of files to show
      text.textContent = "Fetching the off-site copy…";
    } else if (job.state === "queued" || !p.total) {
      bar.removeAttribute("value");
      text.textContent = job.state === "queued" ? "Waiting for a worker…" : "Preparing…";
    } else {
      bar.max = p.total;
      bar.value = p.done;
      text.textContent = (p.phase === "saving" ? "Saving the current site… " : "Restoring… ") +
        p.done + " / " + p.total + " files";
    }
  }

  function poll(url) {
    get(url)
      .then(function (job) {
        if (job.state === "done" || job.state === "failed") {
          window.location.reload();  // the page shows the outcome, the versions and the undo
          return;
        }
        showProgress(job);
        setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function (err) {
        if (err.status === 503) {  // the whole server is in maintenance: not an answer about the job
          setTimeout(function () { poll(url); }, POLL_MS);
          return;
        }
        box.hidden = true;
        busy(false);
        show("Restore failed: " + err.message, true);
      });
  }

  restoreButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      busy(true);
      get(button.dataset.previewUrl)
        .then(function (version) { chosen = version; busy(false); showPreview(version, button); })
        .catch(function (err) { busy(false); show(err.message, true); });
    });
  });

  name.addEventListener("input", function () {
    confirmButton.disabled = name.value.trim().toLowerCase() !== subdomain;
  });

  confirmButton.addEventListener("click", function () {
    confirmButton.disabled = true;
    post(chosen.restore_url, { confirm: name.value })
      .then(function (job) { showProgress(job); poll(job.status_url); })
      .catch(function (err) { preview.hidden = true; busy(false); show(err.message, true); });
  });

  cancelButton.addEventListener("click", function () {
    chosen = null;
    preview.hidden = true;
    result.hidden = !result.textContent.trim();
    undoButton.hidden = !section.dataset.undoUrl;
  });

  undoButton.addEventListener("click", function () {
    undoButton.hidden = true;
    undoConfirm.hidden = false;
  });

  undoNo.addEventListener("click", function () {
    undoConfirm.hidden = true;
    undoButton.hidden = false;
  });

  undoYes.addEventListener("click", function () {
    undoYes.disabled = true;
    post(section.dataset.undoUrl)
      .then(function (job) { showProgress(job); poll(job.status_url); })
      .catch(function (err) { undoYes.disabled = false; undoConfirm.hidden = true; show(err.message, true); });
  });

  if (section.dataset.statusUrl) poll(section.dataset.statusUrl);
})();

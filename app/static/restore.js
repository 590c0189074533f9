// "Restore from an export file": upload the file (the request body is the file itself),
// show what it holds, confirm, then poll the job like the export and offer "Undo restore".
(function () {
  "use strict";
  var POLL_MS = 1000;
  var section = document.getElementById("restore");
  if (!section) return;
  var form = document.getElementById("restore-form");
  var file = document.getElementById("restore-file");
  var uploadButton = document.getElementById("restore-upload");
  var preview = document.getElementById("restore-preview");
  var summary = document.getElementById("restore-summary");
  var warning = document.getElementById("restore-warning");
  var otherLabel = document.getElementById("restore-other-label");
  var other = document.getElementById("restore-other");
  var confirmButton = document.getElementById("restore-confirm");
  var cancelButton = document.getElementById("restore-cancel");
  var box = document.getElementById("restore-progress");
  var bar = document.getElementById("restore-bar");
  var text = document.getElementById("restore-text");
  var result = document.getElementById("restore-result");
  var undoButton = document.getElementById("restore-undo");
  var undoConfirm = document.getElementById("restore-undo-confirm");
  var undoYes = document.getElementById("restore-undo-yes");
  var undoNo = document.getElementById("restore-undo-no");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var globalAdmin = section.dataset.globalAdmin === "yes";
  var current = null;

  if (result.textContent.trim()) result.hidden = false;

  function post(url, body, type) {
    return window.stinkyApi.post(url, body, csrf, type);
  }

  function show(message, bad) {
    result.hidden = false;
    result.className = bad ? "result bad" : "result";
    result.textContent = message;
  }

  function idle() {
    box.hidden = true;
    preview.hidden = true;
    undoConfirm.hidden = true;
    uploadButton.disabled = false;
    confirmButton.disabled = false;
  }

  // The outcome of the last job and its "Undo restore" belong to the site as it is; a new
  // preview or job takes their place, and Cancel brings them back.
  function setAside(hide) {
    result.hidden = hide || !result.textContent.trim();
    undoButton.hidden = hide || !section.dataset.undoUrl;
    undoConfirm.hidden = true;
  }

  function showPreview(job) {
    current = job;
    var p = job.preview;
    var counts = p.counts || {};
    summary.textContent = (job.file_name || "This export") + " holds the site " + p.subdomain + " (" + p.title + ") as it was on " +
      (p.exported_at || "?").replace("T", " ").slice(0, 16) + " UTC: " + (counts.pages || 0) + " pages, " +
      (counts.media || 0) + " media files. Restoring it replaces this site's content.";
    warning.hidden = !job.other_site;
    otherLabel.hidden = !(job.other_site && globalAdmin);
    other.checked = false;
    if (job.other_site) {
      warning.textContent = "This export is of another site (" + p.subdomain + ")." +
        (globalAdmin ? " Tick the box to restore it here anyway." : " Only a global admin may restore it here.");
    }
    confirmButton.disabled = job.other_site && !globalAdmin;
    box.hidden = true;
    setAside(true);
    preview.hidden = false;
  }

  function showProgress(job) {
    box.hidden = false;
    preview.hidden = true;
    result.hidden = true;
    result.textContent = "";
    undoButton.hidden = true;
    undoConfirm.hidden = true;
    var p = job.progress || {};
    if (job.state === "queued" || !p.total) {
      bar.removeAttribute("value");
      text.textContent = job.state === "queued" ? "Waiting for a worker…" : "Preparing…";
    } else {
      bar.max = p.total;
      bar.value = p.done;
      text.textContent = (p.phase === "saving" ? "Saving the current site… " : "Restoring… ") +
        p.done + " / " + p.total + " files";
    }
  }

  function finished(job) {
    idle();
    form.reset();
    show(job.message, job.state !== "done");  // the server's words, as after a reload
    section.dataset.undoUrl = job.undo_url || "";
    undoButton.hidden = !job.undo_url;
  }

  function poll(url) {
    window.stinkyApi.get(url)
      .then(function (job) {
        if (job.state === "done" || job.state === "failed") return finished(job);
        showProgress(job);
        setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function (err) {
        if (err.status === 503) {  // the whole server is in maintenance: not an answer about the job
          setTimeout(function () { poll(url); }, POLL_MS);
          return;
        }
        idle();
        show("Restore failed: " + err.message, true);
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = file.files[0];
    if (!chosen) return;
    if (chosen.size > Number(section.dataset.maxBytes)) {
      show(chosen.name + " is larger than the " + Number(section.dataset.maxBytes).toLocaleString("en") +
        " bytes allowed.", true);
      return;
    }
    uploadButton.disabled = true;
    setAside(true);
    upload(chosen)
      .then(showPreview)
      .catch(function (err) { idle(); show(err.message, true); });
  });

  // The upload itself, with its progress (fetch cannot tell how much of a body was sent).
  function upload(chosen) {
    box.hidden = false;
    bar.removeAttribute("value");
    text.textContent = "Uploading " + chosen.name + "…";
    return new Promise(function (resolve, reject) {
      var request = new XMLHttpRequest();
      request.open("POST", section.dataset.uploadUrl);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", csrf);
      request.setRequestHeader("Content-Type", "application/gzip");
      request.setRequestHeader("X-Upload-Name", encodeURIComponent(chosen.name));
      request.upload.onprogress = function (event) {
        if (!event.lengthComputable) return;
        bar.max = event.total;
        bar.value = event.loaded;
        text.textContent = event.loaded < event.total
          ? "Uploading " + chosen.name + "… " + Math.floor(100 * event.loaded / event.total) + "%"
          : "Checking " + chosen.name + "…";
      };
      request.upload.onload = function () {
        bar.removeAttribute("value");
        text.textContent = "Checking " + chosen.name + "…";
      };
      request.onload = function () {
        var body = null;
        try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
        if (request.status >= 200 && request.status < 300 && body) return resolve(body);
        reject(new Error((body && body.error) || "the server answered " + request.status));
      };
      request.onerror = function () { reject(new Error("The upload was cut off; try again.")); };
      request.send(chosen);
    });
  }

  confirmButton.addEventListener("click", function () {
    confirmButton.disabled = true;
    post(current.confirm_url, JSON.stringify({ confirm_other_site: other.checked }), "application/json")
      .then(function (job) { showProgress(job); poll(job.status_url); })
      .catch(function (err) { idle(); show(err.message, true); });
  });

  cancelButton.addEventListener("click", function () {
    current = null;
    idle();
    form.reset();
    setAside(false);
  });

  undoButton.addEventListener("click", function () {
    undoButton.hidden = true;
    undoConfirm.hidden = false;
  });

  undoNo.addEventListener("click", function () { setAside(false); });

  undoYes.addEventListener("click", function () {
    undoYes.disabled = true;
    post(section.dataset.undoUrl, "{}", "application/json")
      .then(function (job) { undoYes.disabled = false; showProgress(job); poll(job.status_url); })
      .catch(function (err) { undoYes.disabled = false; setAside(false); show(err.message, true); });
  });

  if (section.dataset.statusUrl) {
    uploadButton.disabled = true;
    poll(section.dataset.statusUrl);
  }
})();

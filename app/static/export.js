// "Download my site": start an export, poll its status about once a second,
// show progress, then a download button or the reason it failed.
// Without JavaScript the form posts normally and the page refreshes itself.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var section = document.getElementById("export");
  if (!section) return;
  var form = document.getElementById("export-form");
  var button = document.getElementById("export-button");
  var box = document.getElementById("export-progress");
  var bar = document.getElementById("export-bar");
  var text = document.getElementById("export-text");
  var result = document.getElementById("export-result");
  var csrf = form.querySelector("input[name=csrf_token]").value;


  function showFailure(message) {
    box.hidden = true;
    result.hidden = false;
    result.className = "result bad";
    result.textContent = "Export failed: " + message;
    button.disabled = false;
    button.textContent = "Try again";
    refreshRecentExports();
  }

  function refreshRecentExports() {
    // Re-read this page and swap in its list of exports, now that one finished.
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("recent-exports");
        var current = document.getElementById("recent-exports");
        if (fresh && current) current.replaceWith(fresh);
      })
      .catch(function () {});
  }

  function showReady(status) {
    box.hidden = true;
    result.hidden = false;
    result.className = "result";
    result.textContent = "";
    if (!status.download_url) {
      result.textContent = "This export has expired. Start a new one.";
    } else {
      result.appendChild(document.createTextNode("Your export is ready: "));
      var link = document.createElement("a");
      link.className = "button";
      link.id = "export-download";
      link.href = status.download_url;
      link.textContent = "Download " + status.filename + " (" + status.size_text + ")";
      result.appendChild(link);
      var sum = document.createElement("small");
      sum.className = "checksum";
      sum.textContent = "SHA-256 " + status.sha256;
      result.appendChild(sum);
    }
    button.disabled = false;
    button.className = "secondary";
    button.textContent = "Export again";
    refreshRecentExports();
  }

  function showProgress(status) {
    box.hidden = false;
    result.hidden = true;
    var done = status.progress.done, total = status.progress.total;
    if (status.state === "queued" || !total) {
      bar.removeAttribute("value");  // indeterminate until the first file is written
      text.textContent = status.state === "queued" ? "Waiting for a worker…" : "Preparing…";
    } else {
      bar.max = total;
      bar.value = done;
      text.textContent = "Exporting… " + done + " / " + total + " files";
    }
  }

  function poll(url) {
    window.stinkyApi.get(url)
      .then(function (status) {
        if (status.state === "ready") return showReady(status);
        if (status.state === "failed") return showFailure(status.error || "unknown error");
        showProgress(status);
        setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function (err) { showFailure(err.message); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    result.hidden = true;
    showProgress({ state: "queued", progress: { done: 0, total: 0 } });
    window.stinkyApi.post(form.action, new FormData(form), csrf)
      .then(function (status) {
        showProgress(status);
        poll(status.status_url);
      })
      .catch(function (err) { showFailure(err.message); });
  });

  if (section.dataset.statusUrl) {
    button.disabled = true;
    poll(section.dataset.statusUrl);
  }
})();

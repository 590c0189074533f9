// The backups page: "Back up now" and "Verify" post their form, then follow the job by polling
// its status URL like the export page; when it ends the page reloads to show the new state.
(function () {
  "use strict";
  // The password confirmation's lifetime counts down; at zero the links are gone (reload).
  var left = document.getElementById("sudo-left");
  if (left) {
    var until = Date.now() + 1000 * Number(left.dataset.seconds);
    var tick = function () {
      var seconds = Math.max(0, Math.round((until - Date.now()) / 1000));
      if (seconds === 0) {
        window.location.reload();
        return;
      }
      left.textContent = "Download links are offered for " + Math.floor(seconds / 60) + " min " +
        (seconds % 60) + " s more.";
      setTimeout(tick, 1000);
    };
    tick();
  }
})();

(function () {
  "use strict";
  var POLL_MS = 1000;
  var box = document.getElementById("job-box");
  if (!box) return;
  var bar = document.getElementById("job-bar");
  var text = document.getElementById("job-text");

  // Progress shows where the job was asked for: a backup's verification or roll back in that
  // backup's card (on a phone the "Back up now" card is screens away), a new backup at the top.
  function place(job) {
    var card = job.kind === "backup" ? null
      : document.querySelector('article[data-backup="' + job.backup_id + '"]');
    var home = card || document.getElementById("jobs");
    if (box.parentNode !== home) {
      home.appendChild(box);
      box.scrollIntoView({ block: "nearest" });
    }
  }

  function show(job) {
    place(job);
    box.hidden = false;
    box.dataset.job = job.job_id;
    box.dataset.state = job.state;
    var p = job.progress || {};
    if (job.state === "running" && p.total) {
      bar.max = p.total;
      bar.value = p.done;
    } else {
      bar.removeAttribute("value");
    }
    text.textContent = job.message;
  }

  function poll(url) {
    window.stinkyApi.get(url)
      .then(function (job) {
        show(job);
        if (job.state === "done" || job.state === "failed") {
          setTimeout(function () { window.location.reload(); }, 600);
          return;
        }
        setTimeout(function () { poll(url); }, POLL_MS);
      })
      .catch(function (err) { box.hidden = false; text.textContent = err.message; });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.job-form"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      var csrf = form.querySelector("input[name=csrf_token]").value;
      window.stinkyApi.post(form.action, new FormData(form), csrf)
        .then(function (job) {
          button.disabled = false;
          show(job);
          poll(job.status_url);
        })
        .catch(function (err) { button.disabled = false; box.hidden = false; text.textContent = err.message; });
    });
  });

  var running = document.querySelector("#job-list li[data-state=queued], #job-list li[data-state=running]");
  if (running) poll(running.dataset.statusUrl);
})();

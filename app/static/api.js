// What the page scripts share: JSON requests to the app, and a failed answer as one sentence.
// A page loads it before its own script (both deferred, so in order): window.stinkyApi.
window.stinkyApi = (function () {
  "use strict";

  // The body of a JSON answer, or an Error saying what went wrong (with the HTTP status, so a
  // caller may poll again on a 503); an answer that is not JSON is a login page or a proxy's.
  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === -1) {
      var page = new Error(
        "the server answered " + response.status + "; reload the page (you may have been logged out)"
      );
      page.status = response.status;
      return Promise.reject(page);
    }
    return response.json().then(function (body) {
      if (!response.ok) {
        var error = new Error(body.error || "the server answered " + response.status);
        error.status = response.status;
        throw error;
      }
      return body;
    });
  }

  function get(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(readJson);
  }

  // POST ``body`` (a string, a file, FormData) as ``type`` (none: the browser's own for FormData).
  function post(url, body, csrf, type) {
    var headers = { Accept: "application/json", "X-CSRFToken": csrf };
    if (type) headers["Content-Type"] = type;
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(readJson);
  }

  return { get: get, post: post };
})();

// Typed confirmations: a field with data-confirm="WORD" accepts only WORD, and says so in our
// words ("Type lakeside to confirm") instead of the browser's "Please match the requested format".
// Without JavaScript the server checks the same and answers with the same sentence.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("input[data-confirm]"), function (input) {
    var word = input.dataset.confirm;
    function check() {
      var typed = input.value.trim().toLowerCase();
      input.setCustomValidity(typed === word ? "" : "Type " + word + " to confirm");
    }
    input.addEventListener("input", check);
    check();
  });
})();

// Keyboard shortcuts of the screening page: each presses one of the page's own buttons.
(function () {
  "use strict";
  var keys = { i: "include", e: "exclude", m: "maybe", n: "not_retrieved", s: "skip", u: "undo" };
  var reason = document.getElementById("reason");
  var typed = document.getElementById("reason_text");
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var editing = target && (target.tagName === "INPUT" || target.tagName === "SELECT" ||
      target.tagName === "TEXTAREA");
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (editing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (reason && /^[1-9]$/.test(event.key)) {
      var index = parseInt(event.key, 10);
      if (index < reason.options.length) {
        reason.selectedIndex = index;
        event.preventDefault();
      }
      return;
    }
    var id = keys[event.key];
    if (!id) return;
    var button = document.getElementById(id);
    if (!button) return;
    event.preventDefault();
    if (id === "exclude" && reason && reason.dataset.needed === "yes" && !reason.value &&
        !(typed && typed.value.trim())) {
      reason.focus();  // a full-text exclusion needs its reason: choose it, then press Enter
      return;
    }
    button.click();
  });
  if (reason) {
    reason.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && reason.value) {
        event.preventDefault();
        document.getElementById("exclude").click();
      }
    });
  }
})();

// While an analysis runs, show its stage and progress; reload when it has finished.
(function () {
  "use strict";
  var section = document.getElementById("run");
  if (!section || section.dataset.state !== "running") return;
  var bar = document.getElementById("run-progress");
  var stage = document.getElementById("run-stage");
  function poll() {
    fetch("/api/analysis", { credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (run) {
        if (run.state !== "running") {
          window.location.reload();
          return;
        }
        bar.max = run.total_stages || 1;
        bar.value = run.done_stages;
        if (stage) stage.textContent = run.stage + " (" + (run.done_stages + 1) + " of " +
          run.total_stages + ")";
        window.setTimeout(poll, 700);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  poll();
})();

// The extraction grid: rows added and removed, every change checked by the server's
// validation (the cells marked with its messages), and the rows saved.
(function () {
  "use strict";
  var form = document.getElementById("extraction");
  if (!form) return;
  var token = document.querySelector("meta[name=csrf-token]").content;
  var body = document.querySelector("#grid tbody");
  var problems = document.getElementById("problems");
  var saved = document.getElementById("saved");
  var timer = null;

  // The server's shape: {"study": id, "details": {...}, "patients": [...], "consensus"}.
  function collect() {
    var details = {};
    form.querySelectorAll("[data-study-column]").forEach(function (input) {
      if (input.value.trim()) details[input.dataset.studyColumn] = input.value;
    });
    var patients = [];
    body.querySelectorAll("tr").forEach(function (tr) {
      var row = {};
      tr.querySelectorAll("[data-column]").forEach(function (input) {
        if (input.value.trim()) row[input.dataset.column] = input.value;
      });
      patients.push(row);
    });
    return { study: form.dataset.study, details: details, patients: patients,
      consensus: form.dataset.consensus === "yes" };
  }

  function send(path, data) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(data)
    }).then(function (answer) {
      return answer.json().then(function (json) { return { status: answer.status, json: json }; });
    });
  }

  function renumber() {
    body.querySelectorAll("tr").forEach(function (tr, i) {
      tr.querySelector(".rownum").textContent = String(i + 1);
    });
  }

  function mark(list) {
    form.querySelectorAll(".invalid, .read-as").forEach(function (el) {
      el.classList.remove("invalid", "read-as");
      el.removeAttribute("title");
    });
    problems.textContent = "";
    if (!list.some(function (p) { return p.severity !== "note"; })) {
      var ok = document.createElement("li");
      ok.textContent = "No problems: these rows can be analysed.";
      ok.className = "ok";
      problems.appendChild(ok);
    }
    var rows = body.querySelectorAll("tr");
    list.forEach(function (p) {
      var cell = null;
      if (p.table === "studies" && p.column) {
        cell = form.querySelector("[data-study-column='" + p.column + "']");
      } else if (p.row && p.column && rows[p.row - 1]) {
        cell = rows[p.row - 1].querySelector("[data-column='" + p.column + "']");
      }
      if (cell) {
        cell.classList.add(p.severity === "note" ? "read-as" : "invalid");
        cell.title = p.message;
      }
      var item = document.createElement("li");
      item.className = p.severity;
      var where = p.table === "studies" ? "study details" : (p.row ? "row " + p.row : "table");
      item.textContent = where + (p.column ? ", " + p.column : "") + ": " + p.message;
      problems.appendChild(item);
    });
  }

  function check() {
    send("/api/extraction/check", collect()).then(function (answer) {
      if (answer.status === 200) mark(answer.json.problems);
      else mark([{ severity: "error", message: answer.json.error || "not checked" }]);
    });
  }

  function changed() {
    saved.textContent = "";
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 400);
  }

  form.addEventListener("input", changed);
  body.addEventListener("click", function (event) {
    if (event.target.classList.contains("remove")) {
      event.target.closest("tr").remove();
      renumber();
      changed();
    }
  });
  function newRow() {
    var row = document.getElementById("new-row").content.firstElementChild.cloneNode(true);
    body.appendChild(row);
    renumber();
    return row;
  }

  document.getElementById("add-row").addEventListener("click", function () {
    newRow().querySelector("input").focus();
  });

  // Rows copied from a spreadsheet (cells split by tabs, rows by line breaks) fill the
  // grid from the cell pasted into, rightwards and downwards, adding rows as needed.
  body.addEventListener("paste", function (event) {
    var target = event.target;
    var text = (event.clipboardData || window.clipboardData).getData("text");
    if (!target.dataset || !target.dataset.column || !/[\t\n]/.test(text)) return;
    event.preventDefault();
    var lines = text.replace(/\r/g, "").split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr"));
    var first = rows.indexOf(target.closest("tr"));
    var columns = Array.prototype.slice.call(target.closest("tr").querySelectorAll("[data-column]"));
    var start = columns.indexOf(target);
    lines.forEach(function (line, i) {
      var tr = rows[first + i] || newRow();
      rows[first + i] = tr;
      var inputs = tr.querySelectorAll("[data-column]");
      line.split("\t").forEach(function (value, j) {
        if (inputs[start + j]) inputs[start + j].value = value.trim();
      });
    });
    changed();
  });
  document.getElementById("save").addEventListener("click", function () {
    send("/api/extraction", collect()).then(function (answer) {
      saved.textContent = answer.status === 201 ?
        "Saved " + answer.json.patients + " rows." : "Not saved: " + answer.json.error;
    });
  });
  if (body.querySelector("tr")) check();
})();

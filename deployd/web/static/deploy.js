// deployd web: a deploy's page follows its job live (Server-Sent Events from the page's
// own stream, which relays the daemon's deploys.watch): the steps as whole rows, each
// build output line as it comes, the outcome at the end, without a reload. The daemon
// replays the job's steps at each connection, so a dropped stream comes back whole.
// Text only: never innerHTML.
(function () {
  "use strict";
  var table = document.getElementById("steps");
  var source = table && table.dataset.stream;
  if (!source || !window.EventSource) return;
  var output = document.getElementById("output");
  var OUTPUT_LINES = 500;
  var stream = null;

  function cell(row, text, cls, label) {
    var td = row.insertCell(-1);
    td.textContent = text;
    if (cls) td.className = cls;
    if (label) td.dataset.label = label;
    return td;
  }

  function steps(data) {
    var rows = table.tBodies[0];
    while (rows.rows.length) rows.deleteRow(0);
    data.steps.forEach(function (s) {
      var row = rows.insertRow(-1);
      row.dataset.step = s.name;
      row.className = "s-" + s.state;
      cell(row, s.name, "name");
      cell(row, s.state, "state", "state");
      var t = document.createElement("time");
      t.dateTime = s.at;
      t.textContent = s.time;
      cell(row, "", "", "started").appendChild(t);
      cell(row, s.took, "", "took");
      cell(row, s.message, "msg");
    });
    var empty = document.getElementById("no-steps");
    if (empty) empty.classList.toggle("hidden", data.steps.length > 0);
  }

  function line(data) {
    var atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.appendChild(document.createTextNode(data.line + "\n"));
    while (output.childNodes.length > OUTPUT_LINES) output.removeChild(output.firstChild);
    if (atBottom) output.scrollTop = output.scrollHeight;
  }

  function outcome(data) {
    var box = document.getElementById("outcome");
    var state = document.getElementById("job-state");
    var url = document.getElementById("outcome-url");
    var error = document.getElementById("outcome-error");
    box.className = "outcome " + (data.failed ? "failed" : "ok");
    state.textContent = data.state;
    state.className = "badge b-" + (data.failed ? "failed" : "live");
    document.getElementById("outcome-said").textContent = data.said;
    url.textContent = data.url;
    url.href = data.url || "#";
    url.classList.toggle("hidden", !data.url);
    error.textContent = data.error;
    error.classList.toggle("hidden", !data.error);
  }

  function end() {
    stream.close();
    stream.say("finished", "");
    var leaving = document.getElementById("leaving");
    if (leaving) leaving.remove();
  }

  stream = window.deploydFollow({
    url: source,
    resume: false,  // the daemon replays the job's steps at each connection
    badge: document.getElementById("deploy-live"),
    on: { steps: steps, output: line, outcome: outcome, end: end },
  });
})();

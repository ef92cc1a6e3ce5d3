// deployd web, an app's Logs tab: new lines appended as they come (/apps/NAME/logs/events),
// without a reload. The stream resumes from the last line's cursor (the browser sends it as
// Last-Event-ID; `after` when this script opens it again), so nothing shows twice.
// Following keeps the newest line in view; scrolling up (or "Following") pauses: new lines
// then wait, counted, until "Jump to latest". Text only: never innerHTML.
(function () {
  "use strict";
  var box = document.getElementById("log");
  if (!box) return;
  var KEPT = Math.max(2000, box.childElementCount);  // lines kept; the oldest go first
  var WAITING = 5000;    // lines held while paused; the oldest of those go first
  var source = box.dataset.stream;
  var followButton = document.getElementById("log-follow");
  var latest = document.getElementById("log-latest");
  var empty = document.getElementById("log-empty");
  var following = true;
  var waiting = [];
  var dropped = 0;
  var stream = null;

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false });
  }
  box.querySelectorAll("time[datetime]").forEach(function (t) { t.textContent = clock(t.dateTime); });

  function atBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  }
  function toBottom() { box.scrollTop = box.scrollHeight; }
  toBottom();
  if (!source || !window.EventSource) return;

  function span(parent, text, cls) {
    var s = document.createElement(cls === "time" ? "time" : "span");
    s.textContent = text;
    if (cls !== "time") s.className = cls;
    parent.appendChild(s);
    return s;
  }

  function lineOf(l) {
    var row = document.createElement("div");
    row.className = "ln fresh" + (l.marker ? " marker" : "");
    if (l.at) {
      span(row, clock(l.at), "time").dateTime = l.at;
      row.appendChild(document.createTextNode(" "));
    }
    if (l.source) {
      span(row, l.source, "src");
      row.appendChild(document.createTextNode(" "));
    }
    span(row, l.text, "txt");
    if (l.cut) span(row, " … [" + l.cut.toLocaleString() + " more characters]", "cut");
    return row;
  }

  function show(lines) {
    if (!lines.length) return;
    var part = document.createDocumentFragment();
    lines.slice(-KEPT).forEach(function (l) { part.appendChild(lineOf(l)); });
    box.appendChild(part);
    while (box.childElementCount > KEPT) box.firstElementChild.remove();
    if (empty) empty.classList.add("hidden");
    toBottom();
  }

  function status() {
    followButton.textContent = following ? "Following" : "Paused";
    followButton.setAttribute("aria-pressed", following ? "true" : "false");
    var n = waiting.length + dropped;
    latest.textContent = n ? "Jump to latest (" + n.toLocaleString() + " new)" : "Jump to latest";
    latest.classList.toggle("hidden", following);
  }

  function follow(on) {
    following = on;
    if (on) {
      show(waiting);
      waiting = [];
      dropped = 0;
      toBottom();
    }
    status();
  }

  function arrived(lines) {
    if (following) {
      show(lines);
      return;
    }
    waiting = waiting.concat(lines);
    if (waiting.length > WAITING) {
      dropped += waiting.length - WAITING;
      waiting = waiting.slice(-WAITING);
    }
    status();
  }

  followButton.addEventListener("click", function () { follow(!following); });
  latest.addEventListener("click", function () { follow(true); });
  box.addEventListener("scroll", function () {
    if (following !== atBottom()) follow(!following);  // up: paused; back down: following
  });
  status();

  function ended(data) {
    stream.close();
    stream.say("stopped: " + data.message, "down");
  }

  stream = window.deploydFollow({
    url: source,
    after: box.dataset.after,
    badge: document.getElementById("log-live"),
    on: { lines: function (data) { arrived(data.lines); }, ended: ended },
  });
})();

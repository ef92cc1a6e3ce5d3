// deployd web: keeps a page current from /events (Server-Sent Events, followed by
// stream.js), without a reload: the feed, the apps' badges and counts, the host's figures,
// and an app's page's sections. Text only: never innerHTML.
(function () {
  "use strict";
  var body = document.body;
  var source = body.dataset.events;
  var FEED_ROWS = 200;

  function time(iso) {
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleTimeString([], { hour12: false });
  }
  document.querySelectorAll(".feed time[datetime]").forEach(function (t) {
    t.textContent = time(t.dateTime);
  });
  if (!source || !window.EventSource) return;

  function cell(row, text, cls) {
    var td = row.insertCell(-1);
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function addFeed(item) {
    var table = document.getElementById("feed");
    if (!table) return;
    if (table.dataset.app && item.app !== table.dataset.app) return;
    var rows = table.tBodies[0];
    if (rows.querySelector('tr[data-id="' + item.id + '"]')) return;
    var row = rows.insertRow(0);
    row.dataset.id = item.id;
    row.className = "fresh" + (item.bad ? " bad" : "");
    var t = document.createElement("time");
    t.dateTime = item.at;
    t.textContent = time(item.at);
    cell(row, "", "time").appendChild(t);
    cell(row, item.kind, "kind");
    cell(row, item.app, "app");
    var message = cell(row, item.link ? "" : item.message, "msg");
    if (item.link) {
      var link = document.createElement("a");
      link.href = item.link;
      link.textContent = item.message;
      message.appendChild(link);
    }
    while (rows.rows.length > FEED_ROWS) rows.deleteRow(-1);
  }

  function byName(attribute, name) {
    return document.querySelectorAll("[" + attribute + '="' + CSS.escape(name) + '"]');
  }

  function newRow(app) {
    var table = document.getElementById("apps");
    var template = document.getElementById("app-row");
    if (!table || !template) return;
    var row = template.content.firstElementChild.cloneNode(true);
    row.dataset.rowOf = app.name;
    var links = row.querySelectorAll("a");
    links[0].textContent = app.name;
    links[0].href = "/apps/" + encodeURIComponent(app.name);
    links[1].textContent = app.url;
    links[1].href = app.url;
    row.querySelector(".badge").dataset.badgeOf = app.name;
    row.cells[2].dataset.releaseOf = app.name;
    table.tBodies[0].appendChild(row);
    var empty = document.getElementById("no-apps");
    if (empty) empty.remove();
  }

  function recount() {
    var counts = document.querySelectorAll("[data-count]");
    if (!counts.length) return;
    var seen = { all: 0 };
    document.querySelectorAll("#apps [data-badge-of]").forEach(function (b) {
      seen.all += 1;
      seen[b.textContent] = (seen[b.textContent] || 0) + 1;
    });
    counts.forEach(function (c) { c.textContent = String(seen[c.dataset.count] || 0); });
  }

  // An app's page draws its sections again from a fresh copy of itself when the app
  // changes (its own HTML, parsed, never a string put into the page), except a section
  // someone is busy in: focus, an edited field, an open "Stop…".
  var refresh = { timer: null, fetching: false, again: false };

  function busy(section) {
    if (section.contains(document.activeElement) && document.activeElement !== document.body) return true;
    if (section.querySelector("details[open]")) return true;
    return Array.prototype.some.call(section.querySelectorAll("input, textarea, select"), function (field) {
      if (field.type === "checkbox") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") return false;
      return field.type !== "hidden" && field.value !== field.defaultValue;
    });
  }

  function redraw() {
    var stale = document.getElementById("stale");
    refresh.timer = null;
    refresh.fetching = true;
    fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (!answer.ok) throw new Error(String(answer.status));
        return answer.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var skipped = false;
        document.querySelectorAll("[data-refresh]").forEach(function (old) {
          var next = fresh.querySelector('[data-refresh="' + old.dataset.refresh + '"]');
          if (!next) return;
          if (busy(old)) { skipped = true; return; }
          old.replaceWith(document.importNode(next, true));
        });
        if (stale) stale.classList.toggle("hidden", !skipped);
      })
      .catch(function () { if (stale) stale.classList.remove("hidden"); })
      .finally(function () {
        refresh.fetching = false;
        if (refresh.again) { refresh.again = false; later(); }
      });
  }

  function later() {
    if (refresh.timer) return;  // the fetch to come will see this change too
    if (refresh.fetching) { refresh.again = true; return; }  // it may not: once more after
    refresh.timer = setTimeout(redraw, 400);  // a burst of changes: one fetch
  }

  function updateApp(app) {
    if (!byName("data-row-of", app.name).length) newRow(app);
    byName("data-badge-of", app.name).forEach(function (b) {
      b.textContent = app.badge;
      b.className = "badge b-" + app.badge;
    });
    byName("data-release-of", app.name).forEach(function (r) { r.textContent = app.release; });
    var feed = document.getElementById("feed");
    if (feed && feed.dataset.app === app.name && document.querySelector("[data-refresh]")) later();
    recount();
  }

  function removeApp(name) {
    byName("data-row-of", name).forEach(function (r) { r.remove(); });
    recount();
  }

  function host(fields) {
    var waiting = document.querySelector("[data-host-waiting]");
    if (waiting) waiting.remove();
    Object.keys(fields).forEach(function (key) {
      document.querySelectorAll('[data-host="' + key + '"]').forEach(function (cell) {
        cell.textContent = fields[key];
      });
    });
  }

  window.deploydFollow({
    url: source,
    after: body.dataset.after,
    badge: document.getElementById("live"),
    on: {
      feed: addFeed,
      app: updateApp,
      removed: function (data) { removeApp(data.name); },
      host: host,
    },
  });
})();

// deployd web: what every live page does with its Server-Sent Events stream (the feed, a
// deploy's page, an app's log). It says its state in a badge ("live", "disconnected —
// reconnecting", a link to log in again once the session is over), resumes from the last
// event id seen (the browser sends Last-Event-ID when it reconnects by itself; `after`
// when the stream is opened again here, more slowly each time the server is away), and
// hands each event's data to the page. Text only: never innerHTML.
window.deploydFollow = function (options) {
  "use strict";
  // options: url, after (the id the page was drawn at, or ""), badge (an element or
  // null), on ({kind: handler(data)}), resume (false: open the url as it is)
  var lastId = options.after || "";
  var stream = null;
  var over = false;
  var wait = 1000;

  function say(text, kind) {
    if (!options.badge) return;
    options.badge.textContent = text;
    options.badge.className = "live " + kind;
  }

  function close() {
    over = true;
    if (stream) stream.close();
    stream = null;
  }

  function signedOut() {
    close();
    if (!options.badge) return;
    options.badge.textContent = "";
    options.badge.className = "live down";
    var link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "signed out — log in again";
    options.badge.appendChild(link);
  }

  function listen(kind, handle) {
    stream.addEventListener(kind, function (message) {
      if (message.lastEventId) lastId = message.lastEventId;
      handle(JSON.parse(message.data));
    });
  }

  function connect() {
    var url = options.url;
    if (options.resume !== false) {
      url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(lastId);
    }
    stream = new EventSource(url);
    listen("live", function () { say("live", "ok"); wait = 1000; });
    listen("signed-out", signedOut);
    Object.keys(options.on).forEach(function (kind) { listen(kind, options.on[kind]); });
    stream.onerror = function () {
      if (over || !stream) return;
      say("disconnected — reconnecting", "down");
      if (stream.readyState === EventSource.CLOSED) {
        stream = null;  // refused (the web process or deployd is away): try again, slower
        setTimeout(function () { if (!over) connect(); }, wait);
        wait = Math.min(wait * 2, 30000);
      }
    };
  }

  if (!options.url || !window.EventSource) return { close: close, say: say };
  connect();
  return { close: close, say: say };
};

// ivr-agent dashboard: live counters from /api/live (SSE), fresh panels when calls are stored.
"use strict";
(function () {
  const state = document.getElementById("live-state");
  const clock = document.getElementById("clock");
  // The states' texts come from the page, in its language (data-text-live, …).
  const texts = state.dataset;
  let refreshing = null;
  let again = false;

  // The call centre's time, whatever the zone of the screen showing it.
  function tick() {
    clock.textContent = new Date().toLocaleTimeString(document.documentElement.lang, {
      hour12: false, timeZone: clock.dataset.zone,
    });
  }

  function setState(text, cls) {
    state.textContent = text;
    state.className = "state " + cls;
  }

  function showCalls(calls) {
    for (const [name, value] of Object.entries(calls)) {
      const tile = document.querySelector('[data-live="' + name + '"] .value');
      if (tile && tile.textContent !== String(value)) {
        tile.textContent = value;
        tile.parentElement.classList.remove("flash");
        void tile.parentElement.offsetWidth;
        tile.parentElement.classList.add("flash");
      }
    }
  }

  // Re-render the panels on the server (the same code as the first page) and swap them in;
  // at most one request in flight, one more queued if events arrive meanwhile.
  async function refresh() {
    if (refreshing) { again = true; return; }
    // The page's own query (its PBX filter, pbx_id) asks for the same panels.
    refreshing = fetch("/dashboard/panels" + location.search,
      { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401 || response.redirected) {
          location.assign("/login?next=/");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) { return; }
        const panels = document.getElementById("panels");
        const fresh = document.createElement("div");
        fresh.innerHTML = html;
        const next = fresh.firstElementChild;
        // A new day in the call centre's zone: reload, so the heading follows too.
        if (next.dataset.from !== panels.dataset.from) { location.reload(); return; }
        panels.replaceWith(next);
        document.body.dataset.refreshed = String(Date.now());
      })
      .catch(function () { setState(texts.textOffline, "down"); })
      .finally(function () {
        refreshing = null;
        if (again) { again = false; refresh(); }
      });
  }

  function connect() {
    const source = new EventSource("/api/live");
    source.onopen = function () { setState(texts.textLive, "live"); };
    source.onerror = function () { setState(texts.textReconnecting, "down"); };
    source.addEventListener("calls", function (e) { showCalls(JSON.parse(e.data)); });
    source.addEventListener("stored", refresh);
    // The server ended the stream for good (signed out, token revoked or expired): the
    // browser would retry and be refused for ever, showing "reconnecting". Sign in again.
    source.addEventListener("closed", function () {
      source.close();
      setState(texts.textSignedOut, "down");
      location.assign("/login?next=/");
    });
  }

  tick();
  setInterval(tick, 1000);
  // A slow safety net: new day, or a stream that silently stalled behind a proxy.
  setInterval(refresh, 60000);
  connect();
})();

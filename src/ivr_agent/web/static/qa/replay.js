// QA replay page: draws the recording's waveform (peaks computed by the server) and the
// call's timeline on the same time axis; clicking an event seeks the player to it.
// Offsets come from the server, in seconds from the recording's start (negative: before
// the recording started, drawn at the left edge). The texts it shows come from the page, in
// its language (data.texts: the lanes' names and the templates of offsets and tooltips).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("qa-data").textContent);
  const texts = data.texts;
  const player = document.getElementById("player");
  const canvas = document.getElementById("waveform");
  const lanes = document.getElementById("lanes");
  const playhead = document.getElementById("playhead");
  const events = document.querySelector("#events tbody");
  const recording = data.recording && data.recording.status === "ok" ? data.recording : null;
  const ends = data.markers.map((m) => (m.end === null ? m.start : m.end));
  const total = Math.max((recording && recording.seconds) || 0, ...ends, 1);
  const LANES = [
    ["call", ["offered", "ringing", "answer", "hangup"]],
    ["prompts", ["prompt"]],
    ["holds", ["hold"]],
    ["caller", ["talk", "silence"]],
    ["recording", ["pause"]],
  ];

  const clamp = (t) => Math.min(Math.max(t, 0), total);
  const pct = (t) => (clamp(t) / total) * 100 + "%";
  // "{name}" in a text of the page is replaced by values[name].
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (whole, name) =>
    (Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole));
  const number = new Intl.NumberFormat(document.documentElement.lang, {
    minimumFractionDigits: 1, maximumFractionDigits: 1,
  });
  const fmt = (t) =>
    fill(texts.seconds, { seconds: (t <= -0.05 ? "−" : "") + number.format(Math.abs(t)) });

  function seek(seconds) {
    const target = Math.max(0, seconds);
    if (player) {
      player.currentTime = target;
    }
    document.body.dataset.seekedTo = String(target);
    movePlayhead(target);
  }

  function movePlayhead(t) {
    playhead.style.left = pct(t);
  }

  function markerButton(m) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "marker kind-" + m.kind + (m.end === null ? " instant" : "") + (m.start < 0 ? " before" : "");
    b.dataset.kind = m.kind;
    b.dataset.start = String(m.start);
    if (m.end !== null) {
      b.dataset.end = String(m.end);
    }
    b.dataset.label = m.label;
    b.title = m.end === null
      ? fill(texts.at, { label: m.label, start: fmt(m.start) })
      : fill(texts.from_until, { label: m.label, start: fmt(m.start), end: fmt(m.end) });
    b.style.left = pct(m.start);
    if (m.end !== null) {
      b.style.width = "calc(" + pct(m.end) + " - " + pct(m.start) + ")";
      b.textContent = m.label;
    }
    b.addEventListener("click", () => seek(m.start));
    return b;
  }

  for (const [name, kinds] of LANES) {
    const mine = data.markers.filter((m) => kinds.includes(m.kind));
    if (!mine.length) {
      continue;
    }
    const lane = document.createElement("div");
    lane.className = "lane";
    lane.dataset.lane = name;
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = texts.lanes[name];
    lane.appendChild(label);
    mine.forEach((m) => lane.appendChild(markerButton(m)));
    lanes.appendChild(lane);
  }

  for (const m of data.markers) {
    const row = document.createElement("tr");
    row.dataset.kind = m.kind;
    const at = document.createElement("td");
    const go = document.createElement("button");
    go.type = "button";
    go.textContent = fmt(m.start);
    go.addEventListener("click", () => seek(m.start));
    at.appendChild(go);
    const what = document.createElement("td");
    what.textContent = m.label;
    const until = document.createElement("td");
    until.textContent = m.end === null ? "" : fmt(m.end);
    row.append(at, what, until);
    events.appendChild(row);
  }

  function drawPeaks(peaks) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth * ratio;
    const height = canvas.clientHeight * ratio;
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = getComputedStyle(document.body).getPropertyValue("--accent") || "#5cb8ff";
    // The recording covers [0, recording.seconds] of the axis.
    const span = (recording.seconds / total) * width;
    const step = span / peaks.length;
    peaks.forEach((level, i) => {
      const h = Math.max(level * height, 1);
      ctx.fillRect(i * step, (height - h) / 2, Math.max(step - 0.5, 0.5), h);
    });
    canvas.dataset.peaks = String(peaks.length);
  }

  if (recording) {
    const buckets = Math.min(Math.max(Math.round(canvas.clientWidth), 50), 4000);
    fetch("/api/recordings/" + recording.recording_id + "/peaks?buckets=" + buckets, {
      credentials: "same-origin",
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("peaks " + r.status))))
      .then((body) => drawPeaks(body.peaks))
      .catch((e) => {
        canvas.dataset.error = String(e);
      });
    canvas.addEventListener("click", (e) => {
      const rect = canvas.getBoundingClientRect();
      seek(((e.clientX - rect.left) / rect.width) * total);
    });
  }
  if (player) {
    player.addEventListener("timeupdate", () => movePlayhead(player.currentTime));
  }
  document.body.dataset.ready = "1";
})();

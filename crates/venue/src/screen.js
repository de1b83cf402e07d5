// The door screen: shows the code of the current window, swaps codes by
// itself, and keeps working from the codes it holds when the venue
// computer is unreachable. It never shows a code outside its window.
"use strict";

(function () {
  const qr = document.getElementById("qr");
  const stopped = document.getElementById("stopped");
  const clock = document.getElementById("clock");
  const bar = document.querySelector("#next span");
  const status = document.getElementById("status");
  let codes = [];       // [{from, until, text, svg}], ascending, Unix seconds
  let offset = 0;       // venue computer's clock minus this tablet's, in ms
  let shown = null;     // `from` of the code on screen
  let online = false;
  let fetchedAt = 0;

  function now() { return Date.now() + offset; }

  function two(n) { return String(n).padStart(2, "0"); }

  function hhmm(unixSeconds) {
    const d = new Date(unixSeconds * 1000);
    return two(d.getHours()) + ":" + two(d.getMinutes());
  }

  async function refresh() {
    const asked = Date.now();
    try {
      const response = await fetch("/codes", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const schedule = await response.json();
      const answered = Date.now();
      // The answer was made somewhere between asking and receiving.
      offset = schedule.now * 1000 - (asked + answered) / 2;
      const known = new Map(codes.map((c) => [c.from, c]));
      for (const c of schedule.codes) known.set(c.from, c);
      codes = [...known.values()].sort((a, b) => a.from - b.from);
      document.getElementById("venue").textContent = schedule.venue.name;
      document.getElementById("address").textContent = schedule.venue.address;
      document.title = "Check in at " + schedule.venue.name;
      online = true;
      fetchedAt = answered;
    } catch (e) {
      online = false;
    }
    tick();
  }

  function tick() {
    const t = now();
    const seconds = t / 1000;
    const d = new Date(t);
    clock.textContent = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    codes = codes.filter((c) => c.until > seconds);
    const current = codes.find((c) => c.from <= seconds && seconds < c.until);
    if (current) {
      if (shown !== current.from) {
        qr.innerHTML = current.svg;
        qr.dataset.text = current.text;
        qr.dataset.from = String(current.from);
        shown = current.from;
      }
      qr.hidden = false;
      stopped.hidden = true;
      bar.style.width = (100 * (seconds - current.from) / (current.until - current.from)).toFixed(1) + "%";
    } else {
      qr.hidden = true;
      qr.innerHTML = "";
      delete qr.dataset.text;
      shown = null;
      stopped.hidden = false;
      bar.style.width = "0";
    }
    const last = codes.length ? codes[codes.length - 1].until : 0;
    if (!codes.length) {
      status.textContent = online ? "Waiting for codes…" : "Offline: no codes left.";
    } else if (online) {
      status.textContent = "Codes ready until " + hhmm(last) + ".";
    } else {
      status.textContent = "Offline: showing saved codes until " + hhmm(last) + ".";
    }
    status.classList.toggle("offline", !online);
    status.dataset.online = String(online);
  }

  refresh();
  // New codes every half minute; the clock every quarter second.
  setInterval(refresh, 30000);
  setInterval(tick, 250);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && Date.now() - fetchedAt > 30000) refresh();
  });
})();

'use strict';
// The pass page: asks /pass.json every few seconds and draws it; the
// clock ticks every quarter second. A page that has not heard from the
// phone for LIVE_MS shows "not live", never the last colour it had.
(function () {
  const REFRESH_MS = 5000;
  const LIVE_MS = 20000;
  const $ = (id) => document.getElementById(id);
  const dateTime = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    hour12: false, timeZoneName: 'short',
  });
  const clock = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZoneName: 'short',
  });
  const when = (secs) => dateTime.format(new Date(secs * 1000));
  const WORDS = {
    green: 'no qualifying exposure',
    yellow: 'stay at home: a qualifying exposure',
    red: 'stay at home: a positive diagnosis',
    stale: 'not up to date: this is not a green pass',
  };
  let pass = null;
  let heard = 0;

  function list(id, items) {
    const ul = $(id);
    ul.replaceChildren(...items.map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }));
  }

  function draw() {
    const box = $('pass');
    const live = pass !== null && Date.now() - heard < LIVE_MS;
    const color = live ? pass.color : (pass === null && heard === 0 ? 'loading' : 'dead');
    box.className = 'pass ' + color;
    box.dataset.color = live ? pass.color : '';
    box.dataset.until = live && pass.until !== null ? String(pass.until) : '';
    if (!live) {
      $('word').textContent = color === 'loading' ? 'LOADING' : 'NOT LIVE';
      $('until').textContent = color === 'loading' ? '' : 'This page cannot reach Greenlight on this device: the colour is unknown.';
      $('region').textContent = '';
      $('check-in').hidden = true;
      return;
    }
    $('word').textContent = pass.word;
    let until = WORDS[pass.color] || '';
    if (pass.color === 'stale') {
      until += pass.fresh_as_of === null ? ' (never synced)' : ' (up to date as of ' + when(pass.fresh_as_of) + ')';
    } else if (pass.until !== null && pass.color !== 'green') {
      until += ', until ' + when(pass.until);
    } else if (pass.fresh_as_of !== null) {
      until += ', up to date as of ' + when(pass.fresh_as_of);
    }
    $('until').textContent = until;
    $('region').textContent = pass.region ? 'Region ' + pass.region : 'Region not known yet (never synced)';
    const c = pass.check_in;
    $('check-in').hidden = c === null;
    if (c !== null) {
      $('check-in-venue').textContent = c.venue;
      $('check-in-time').textContent = 'since ' + when(c.arrival) + ' · ' + pass.word;
    }
    $('headline').textContent = pass.headline;
    list('explanation', pass.explanation);
    list('visits', pass.visits.length
      ? pass.visits.map((v) => v.venue + (v.address ? ', ' + v.address : '') + ' (' + v.kind + '): ' + when(v.arrival) + ' – ' + when(v.departure))
      : ['No visits in the last 14 days.']);
    list('history', pass.history.length
      ? pass.history.map((h) => when(h.at) + ': ' + h.color.toUpperCase() + (h.until !== null ? ' until ' + when(h.until) : ''))
      : ['No colour recorded yet.']);
  }

  async function refresh() {
    try {
      const answer = await fetch('/pass.json', { cache: 'no-store' });
      if (!answer.ok) throw new Error(String(answer.status));
      pass = await answer.json();
      heard = Date.now();
    } catch (e) {
      // Keep what was heard until it is too old: draw() decides.
    }
    draw();
  }

  function tick() {
    $('clock').textContent = clock.format(new Date());
    if (pass !== null && Date.now() - heard >= LIVE_MS && $('pass').dataset.color !== '') draw();
  }

  tick();
  refresh();
  setInterval(tick, 250);
  setInterval(refresh, REFRESH_MS);
})();

// ribbon dashboard (docs/DASHBOARD.md): fetches one JSON document per panel
// (api/*) and draws it with Chart.js 3 (Debian's libjs-chart.js, served as
// chart.js). Text from the server is put into the page with textContent
// only, never as markup. After drawing, the page records in #self-check
// whether each canvas holds any painted pixel, and #page-errors collects
// script errors, console errors and CSP violations: the browser test
// (tests/e2e/dashboard_browser_test.cpp) reads both from the DOM.
'use strict';

const COLOURS = {
  signed: '#2e8b57', unsigned: '#8a96a3', tempfail: '#e67e22', reject: '#c0392b',
  supported: '#2e8b57', unsupported: '#c0392b', unknown: '#8a96a3',
  current: '#2e8b57', due: '#e67e22', urgent: '#c0392b', next: '#2f6db5',
  expired: '#b8c0c8', old: '#d9dee4', today: '#c0392b',
};
const RESULT_NAMES = {
  signed: 'signed', unsigned: 'passed unsigned', tempfail: 'tempfailed', reject: 'rejected',
};
const CANVASES = ['ids-chart', 'messages-chart', 'capability-chart', 'clients-chart'];
const DAY = 86400;
const charts = {};

// ---- errors, for people and for the browser test ------------------------------

function recordError(text) {
  const pre = document.getElementById('page-errors');
  pre.textContent += text + '\n';
  pre.dataset.count = String(Number(pre.dataset.count || 0) + 1);
}
window.addEventListener('error', (e) => recordError('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => recordError('unhandled: ' + e.reason));
document.addEventListener('securitypolicyviolation',
  (e) => recordError('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
const consoleError = console.error.bind(console);
console.error = (...args) => { recordError('console.error: ' + args.join(' ')); consoleError(...args); };

// ---- small helpers ------------------------------------------------------------

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}
function iso(seconds) { return new Date(seconds * 1000).toISOString(); }
function day(seconds) { return iso(seconds).slice(0, 10); }
function minute(seconds) { return iso(seconds).slice(0, 16).replace('T', ' '); }
function setText(id, value) { document.getElementById(id).textContent = String(value); }

function panelError(panelId, message) {
  const p = document.querySelector('#' + panelId + ' .panel-error');
  p.hidden = !message;
  p.textContent = message || '';
}

async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || path + ': HTTP ' + response.status);
  return body;
}

// Draws a chart in canvas `id`, replacing the one drawn before; none when
// Chart.js is missing (the tables still show).
function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  delete charts[id];
  if (!window.Chart) return;
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false },
    config.options);
  charts[id] = new window.Chart(document.getElementById(id), config);
}

// A vertical line at today on the timeline: a plugin of this chart only.
const todayLine = {
  id: 'todayLine',
  afterDatasetsDraw(chart, args, options) {
    const x = chart.scales.x.getPixelForValue(options.day);
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = COLOURS.today;
    ctx.lineWidth = 2;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.fillStyle = COLOURS.today;
    ctx.font = '12px sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText('today', x, top - 4);
    ctx.restore();
  },
};

// ---- the panels ---------------------------------------------------------------

// A certificate's colour: its status, or for the current one how soon its
// address needs a renewal.
function certificateState(cert, stateOf) {
  if (cert.status !== 'current') return cert.status;
  const state = stateOf[cert.address];
  return state === 'due' || state === 'urgent' ? state : 'current';
}

async function loadIds() {
  const data = await getJson('api/ids');
  const stateOf = {};
  const tiles = document.getElementById('ids-tiles');
  tiles.replaceChildren();
  for (const a of data.addresses) {
    stateOf[a.address] = a.state;
    const tile = el('li', undefined, 'tile ' + a.state);
    tile.append(el('span', a.state, 'n'), document.createTextNode(a.address));
    tiles.append(tile);
  }
  const body = document.querySelector('#ids-table tbody');
  body.replaceChildren();
  const certs = data.certificates.filter((c) => !c.problem);
  for (const c of data.certificates) {
    const row = el('tr');
    if (c.problem) {
      row.append(el('td', c.address), el('td', ''), el('td', 'unreadable', 'status problem'),
        el('td', c.problem));
    } else {
      const state = certificateState(c, stateOf);
      row.append(el('td', c.address), el('td', c.serial + (c.dev_ca ? ' (dev CA: test only)' : '')),
        el('td', c.status, 'status ' + state), el('td', day(c.not_before)),
        el('td', day(c.not_after)), el('td', c.days_left, 'num'));
    }
    body.append(row);
  }
  const today = data.now / DAY;
  const starts = certs.map((c) => c.not_before / DAY);
  const ends = certs.map((c) => c.not_after / DAY);
  draw('ids-chart', {
    type: 'bar',
    data: {
      labels: certs.map((c) => c.address + ' #' + c.serial.slice(-6)),
      datasets: [{
        label: 'validity',
        data: certs.map((c) => [c.not_before / DAY, c.not_after / DAY]),
        backgroundColor: certs.map((c) => COLOURS[certificateState(c, stateOf)]),
        borderSkipped: false,
        barPercentage: 0.7,
      }],
    },
    options: {
      indexAxis: 'y',
      layout: { padding: { top: 16 } },  // room for the "today" label
      scales: {
        x: {
          type: 'linear',
          min: Math.floor(Math.min(today - 30, ...starts)),
          max: Math.ceil(Math.max(today + 30, ...ends)),
          ticks: { callback: (value) => day(value * DAY) },
        },
      },
      plugins: {
        legend: { display: false },
        todayLine: { day: today },
        tooltip: {
          callbacks: {
            label: (item) => {
              const c = certs[item.dataIndex];
              return c.status + ': ' + day(c.not_before) + ' .. ' + day(c.not_after);
            },
          },
        },
      },
    },
    plugins: [todayLine],
  });
}

async function loadMessages() {
  const data = await getJson('api/messages');
  setText('messages-days', data.days);
  for (const result of Object.keys(RESULT_NAMES)) setText('total-' + result, data.totals[result]);
  const reasons = document.getElementById('reasons');
  reasons.replaceChildren();
  for (const result of ['unsigned', 'tempfail', 'reject']) {
    for (const [reason, n] of Object.entries(data.reasons[result] || {})) {
      reasons.append(el('li', RESULT_NAMES[result] + ', ' + reason + ': ' + n));
    }
  }
  draw('messages-chart', {
    type: 'bar',
    data: {
      labels: data.hours.map((h) => minute(h).slice(5)),
      datasets: Object.keys(RESULT_NAMES).map((result) => ({
        label: RESULT_NAMES[result],
        data: data.series[result],
        backgroundColor: COLOURS[result],
      })),
    },
    options: {
      scales: {
        x: { stacked: true, ticks: { autoSkip: true, maxTicksLimit: 14, maxRotation: 0 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}

async function loadRecipients() {
  const data = await getJson('api/recipients');
  for (const key of ['total', 'supported', 'unsupported', 'unknown']) {
    setText('recipients-' + key, data[key]);
  }
  const kinds = ['supported', 'unsupported', 'unknown'];
  draw('capability-chart', {
    type: 'doughnut',
    data: {
      labels: ['show S/MIME', 'do not', 'unknown'],
      datasets: [{ data: kinds.map((k) => data[k]), backgroundColor: kinds.map((k) => COLOURS[k]) }],
    },
    options: { plugins: { legend: { position: 'bottom' } } },
  });
  const clients = data.clients.slice(0, 12);
  draw('clients-chart', {
    type: 'bar',
    data: {
      labels: clients.map((c) => c.name),
      datasets: [{
        label: 'addresses',
        data: clients.map((c) => c.addresses),
        backgroundColor: clients.map((c) => COLOURS[c.smime]),
      }],
    },
    options: {
      indexAxis: 'y',
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    },
  });
}

async function loadFailures() {
  const data = await getJson('api/failures');
  const body = document.querySelector('#failures-table tbody');
  body.replaceChildren();
  for (const f of data.failures) {
    const row = el('tr');
    row.append(el('td', minute(f.time)), el('td', f.host), el('td', f.front_end),
      el('td', RESULT_NAMES[f.result] || f.result, 'status ' + (f.result === 'reject' ? 'urgent' : 'due')),
      el('td', f.kind), el('td', f.detail, 'detail'));
    body.append(row);
  }
  document.getElementById('failures-empty').hidden = data.failures.length > 0;
}

// ---- the self-check and the refresh -------------------------------------------

function painted(canvas) {
  if (!canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}

function selfCheck() {
  const check = document.getElementById('self-check');
  check.replaceChildren();
  for (const id of CANVASES) {
    const mark = el('span', id);
    mark.dataset.canvas = id;
    mark.dataset.painted = charts[id] && painted(document.getElementById(id)) ? 'yes' : 'no';
    check.append(mark);
  }
  check.dataset.state = 'done';
}

// A moment for Chart.js's resize observers (drawing itself is synchronous:
// animation is off). A timer, not requestAnimationFrame, which a headless
// browser or a hidden tab may not run.
function settle() { return new Promise((resolve) => setTimeout(resolve, 100)); }

async function refresh() {
  const panels = [['ids-panel', loadIds], ['messages-panel', loadMessages],
    ['recipients-panel', loadRecipients], ['failures-panel', loadFailures]];
  await Promise.all(panels.map(async ([id, load]) => {
    try {
      await load();
      panelError(id, window.Chart || id === 'failures-panel' ? '' :
        'Chart.js is missing: install the Debian package libjs-chart.js.');
    } catch (e) {
      panelError(id, e.message);
    }
  }));
  if (document.querySelector('#recipients-panel .panel-error').hidden === false) {
    panelError('clients-panel', 'see Recipients');
  }
  setText('updated', 'Updated ' + minute(Date.now() / 1000) + ' UTC');
  await settle();
  selfCheck();
}

refresh();
setInterval(refresh, 60000);

// Small pieces every view uses: a DOM builder, the connection banner, the server's clock as
// seen from here, number and time formats, and the inline SVG sparkline. No network, no state
// of any view.

/** `h('button', { class: 'x', onclick: f }, 'Pause')`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'text') {
      el.textContent = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- the banner: one line at the top saying what is wrong with the connection ----

const problems = new Map();

/** Shows (or, with `text` null, withdraws) a problem under `key`; the oldest one is shown. */
export function banner(key, text, action = null) {
  if (text === null) problems.delete(key);
  else problems.set(key, { text, action });
  const el = document.getElementById('banner');
  if (!el) return;
  const first = problems.values().next().value;
  if (!first) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  fill(el, h('span', {}, first.text), first.action
    ? h('button', { type: 'button', onclick: first.action.run }, first.action.label)
    : null);
  el.hidden = false;
}

// ---- the server's clock: instants the server sends are compared with its time, not ours ----

let skewMs = 0;

/** Notes that the server's clock read `iso` just now. */
export function noteServerTime(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at)) skewMs = at - Date.now();
}

/** Now on the server's clock, in milliseconds. */
export function serverNow() {
  return Date.now() + skewMs;
}

// ---- formats ----

export function percent(x, digits = 1) {
  return x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)}%`;
}

export function decimal(x, digits = 1) {
  return x === null || x === undefined ? '—' : Number(x).toFixed(digits);
}

export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US');
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function clockDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds ?? 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** 9000 → "2 h 30 min". */
export function roughDuration(seconds) {
  const minutes = Math.round(Math.max(0, seconds) / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.round(hours / 24)} days`;
}

/** An RFC 3339 instant in the browser's zone: the time today, else the date and time. */
export function localTime(iso) {
  if (!iso) return '—';
  const at = new Date(iso);
  const sameDay = at.toDateString() === new Date(serverNow()).toDateString();
  const time = at.toLocaleTimeString('en-US', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  return sameDay ? time : `${at.toLocaleDateString('en-US', { month: 'short', day: 'numeric' })} ${time}`;
}

/** "not_interested" → "not interested". */
export function tagLabel(tag) {
  return tag.replaceAll('_', ' ');
}

export function errorText(error) {
  return error?.code ? `${error.code}: ${error.message}` : String(error?.message ?? error);
}

// ---- the sparkline ----

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/**
 * An inline SVG line of `points` ([{t, v}], t in ms) over the window [from, to]; `line` draws
 * a reference level (e.g. the 3% abandonment line) that the scale always includes.
 */
export function sparkline(points, { from, to, line = null, floor = 0, label }) {
  const width = 160;
  const height = 36;
  const values = points.map((p) => p.v);
  const top = Math.max(floor, line ?? 0, ...values) || 1;
  const x = (t) => ((t - from) / (to - from)) * width;
  const y = (v) => height - 2 - (v / top) * (height - 4);
  const el = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'sparkline', role: 'img', 'aria-label': label });
  if (line !== null) {
    el.append(svg('line', { x1: 0, x2: width, y1: y(line), y2: y(line), class: 'reference' }));
  }
  if (points.length > 0) {
    const path = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    el.append(svg('polyline', { points: points.length > 1 ? path : `${path} ${width},${y(values[0]).toFixed(1)}` }));
  }
  return el;
}

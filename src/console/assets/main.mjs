// The console's entry point: sign-in (a pasted token or the link `outdial serve` prints), the
// choice of view from the token's roles (the supervisor wallboard, the agent desktop), the
// shared subscription connection and its banner, and signing out when the token expires.

import { ApiError, Subscriptions, request } from './graphql.mjs';
import { keepToken, readClaims, signOut, storedToken, takeTokenFromUrl, viewsFor } from './session.mjs';
import { banner, errorText, fill, h } from './widgets.mjs';
import { Wallboard } from './wallboard.mjs';
import { Desk } from './desk.mjs';

const VIEW_KEY = 'outdial.view';
const VIEW_NAMES = { wallboard: 'Wallboard', desk: 'Agent desktop' };

let session = null;

function start() {
  takeTokenFromUrl();
  document.getElementById('sign-out').addEventListener('click', () => leave(null));
  const token = storedToken();
  if (token) enter(token);
  else showSignIn();
}

function showSignIn(problem = null) {
  const input = h('textarea', { id: 'token-input', name: 'token', rows: 4, required: true, spellcheck: 'false',
    autocomplete: 'off' });
  const form = h('form', { class: 'sign-in panel', onsubmit: (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token) enter(token);
  } },
  h('h1', {}, 'Sign in to outdial'),
  h('p', {}, 'Paste a token (', h('code', {}, 'outdial token --tenant T --role supervisor'),
    '), or open the link ', h('code', {}, 'outdial serve'), ' prints when it starts.'),
  problem ? h('p', { class: 'error', role: 'alert' }, problem) : null,
  h('label', { for: 'token-input' }, 'Token'),
  input,
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  h('p', { class: 'hint' }, 'The token stays in this browser tab only, and is forgotten when the tab closes.'));
  document.getElementById('sign-out').hidden = true;
  fill(document.getElementById('who'));
  fill(document.getElementById('views'));
  fill(document.getElementById('main'), form);
  input.focus();
}

function enter(token) {
  let claims;
  try {
    claims = readClaims(token);
  } catch (error) {
    return leave(error.message);
  }
  if (claims.exp !== null && claims.exp * 1000 <= Date.now()) return leave('This token has expired: ask for a new one.');
  const views = viewsFor(claims);
  if (views.length === 0) return leave('This token opens no view: it needs the admin or supervisor role, or the agent role with an agent id.');
  keepToken(token);
  const subscriptions = new Subscriptions(token, connectionStatus);
  session = { token, claims, views, subscriptions, view: null, expiry: null };
  if (claims.exp !== null) {
    // setTimeout holds at most 2^31 - 1 ms (24.8 days).
    const left = Math.min(claims.exp * 1000 - Date.now(), 2 ** 31 - 1);
    session.expiry = setTimeout(() => leave('Your token has expired: sign in again.'), left);
  }
  document.getElementById('sign-out').hidden = false;
  fill(document.getElementById('who'), `${claims.sub ?? '?'} · tenant ${claims.tenant ?? '?'} · ${claims.roles.join(', ')}`);
  fill(document.getElementById('views'), views.length > 1
    ? views.map((view) => h('button', { type: 'button', dataset: { view }, onclick: () => show(view) }, VIEW_NAMES[view]))
    : null);
  const remembered = sessionStorage.getItem(VIEW_KEY);
  show(views.includes(remembered) ? remembered : views[0]);
  // The token's claims chose the view; the server decides whether it is any good.
  request(token, '{ me { user } }').catch((error) => {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') leave(`The server refused this token: ${error.message}`);
  });
}

function show(view) {
  session.view?.stop();
  sessionStorage.setItem(VIEW_KEY, view);
  for (const button of document.querySelectorAll('#views button')) {
    button.setAttribute('aria-pressed', String(button.dataset.view === view));
  }
  const main = fill(document.getElementById('main'));
  const api = { token: session.token, claims: session.claims, subscriptions: session.subscriptions };
  session.view = view === 'wallboard' ? new Wallboard(main, api) : new Desk(main, api);
}

function connectionStatus(state, detail) {
  if (state === 'open') {
    banner('live', null);
    if (detail.reconnected) session?.view?.reconnected();
  } else if (state === 'lost') {
    const seconds = Math.round(detail.retryInMs / 1000);
    banner('live', `Connection to the server lost. Retrying in ${seconds} s…`,
      { label: 'Retry now', run: () => session?.subscriptions.retryNow() });
  } else if (state === 'refused') {
    leave(`The server refused this token: ${detail.reason}`);
  }
}

/** Signs out, with the reason shown on the sign-in form (null: the person chose to). */
function leave(problem) {
  if (session) {
    session.view?.stop();
    session.subscriptions.close();
    clearTimeout(session.expiry);
    session = null;
  }
  banner('live', null);
  signOut();
  showSignIn(problem);
}

/** Errors a view could not place: shown, never left to the console. */
function reportError(error) {
  banner('error', errorText(error), { label: 'Dismiss', run: () => banner('error', null) });
}

window.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  reportError(event.reason);
});

start();

// The sign-in token: taken from the URL fragment (`#token=...`, which browsers never send to the
// server) or pasted, then kept in this tab's sessionStorage only: never a cookie, never a query
// string. Its payload is decoded here only to choose the view; the server checks every request.

const TOKEN_KEY = 'outdial.token';

/** Moves a `#token=...` fragment into session storage and removes it from the address bar. */
export function takeTokenFromUrl() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token === null) return;
  fragment.delete('token');
  const rest = fragment.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  if (token.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the token and everything this tab kept for it. */
export function signOut() {
  sessionStorage.clear();
}

/**
 * What the token says about its holder: `{ sub, tenant, roles, agentId, exp }`. Throws when the
 * text is not a JWT. Nothing is verified here: that is the server's job.
 */
export function readClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not a JWT (three parts separated by dots).');
  let claims;
  try {
    const base64 = parts[1].replaceAll('-', '+').replaceAll('_', '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
    claims = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error('The token’s payload cannot be read.');
  }
  const roles = Array.isArray(claims.roles) ? claims.roles.map((r) => String(r).toLowerCase()) : [];
  return {
    sub: claims.sub,
    tenant: claims.tenant,
    roles,
    agentId: claims.agent_id ?? null,
    exp: typeof claims.exp === 'number' ? claims.exp : null,
  };
}

/** The views the claims open: `wallboard` for staff, `desk` for an agent's own token. */
export function viewsFor(claims) {
  const views = [];
  if (claims.roles.includes('admin') || claims.roles.includes('supervisor')) views.push('wallboard');
  if (claims.roles.includes('agent') && claims.agentId !== null) views.push('desk');
  return views;
}

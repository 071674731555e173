// Talking to outdial: GraphQL over HTTP (`POST /graphql`, the token as a bearer header) and a
// small client of the graphql-transport-ws protocol on `/graphql/ws` (the token in the
// `connection_init` payload; subscribe, next, error, complete, ping and pong; reconnection with
// backoff, resubscribing what was open). It knows nothing of the views.

/** An error the API (or the network) reported: its message and `extensions.code`. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Runs a query or mutation; resolves to `data`, rejects with the first error. */
export async function request(token, query, variables = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('The server cannot be reached.', 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered HTTP ${response.status}.`, 'INTERNAL');
  }
  if (body.errors?.length) throw firstError(body.errors);
  return body.data;
}

function firstError(errors) {
  const error = errors[0] ?? {};
  return new ApiError(error.message ?? 'Unknown error', error.extensions?.code ?? 'ERROR');
}

const PROTOCOL = 'graphql-transport-ws';
const ACK_TIMEOUT_MS = 10_000;
const PING_EVERY_MS = 20_000;
const PONG_TIMEOUT_MS = 10_000;
const RETRY_MAX_MS = 30_000;

/**
 * One WebSocket carrying every subscription of the page. `onStatus(state, detail)` hears
 * `open` (detail: `{ reconnected }`), `lost` (detail: `{ retryInMs }`) and `refused` (detail:
 * `{ reason }`, the server turned the token down: no retry).
 */
export class Subscriptions {
  constructor(token, onStatus) {
    this.token = token;
    this.onStatus = onStatus;
    this.active = new Map();
    this.nextId = 1;
    this.attempts = 0;
    this.everOpened = false;
    this.closed = false;
    this.connect();
  }

  /** Starts a subscription; `sink` gets `next(data)`, `error(ApiError)`, `complete()`. Returns a stop function. */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.active.set(id, { query, variables, sink });
    if (this.acknowledged) this.send({ id, type: 'subscribe', payload: { query, variables } });
    return () => {
      if (this.active.delete(id) && this.acknowledged) this.send({ id, type: 'complete' });
    };
  }

  /** Tries again at once (the banner's button). */
  retryNow() {
    if (this.closed || this.socket) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stopTimers();
    this.socket?.close(1000, 'signed out');
    this.socket = null;
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/graphql/ws`, PROTOCOL);
    this.socket = socket;
    this.acknowledged = false;
    socket.addEventListener('open', () => {
      this.send({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } });
      this.ackTimer = setTimeout(() => socket.close(4408, 'no connection_ack'), ACK_TIMEOUT_MS);
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', (event) => this.closedBy(socket, event));
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const sub = message.id ? this.active.get(message.id) : null;
    switch (message.type) {
      case 'connection_ack':
        this.opened();
        break;
      case 'next':
        if (!sub) break;
        if (message.payload?.errors?.length) sub.sink.error?.(firstError(message.payload.errors));
        else sub.sink.next(message.payload?.data);
        break;
      case 'error':
        if (!sub) break;
        this.active.delete(message.id);
        sub.sink.error?.(firstError(Array.isArray(message.payload) ? message.payload : [message.payload]));
        break;
      case 'complete':
        if (!sub) break;
        this.active.delete(message.id);
        sub.sink.complete?.();
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'pong':
        clearTimeout(this.pongTimer);
        break;
    }
  }

  opened() {
    clearTimeout(this.ackTimer);
    this.acknowledged = true;
    this.attempts = 0;
    for (const [id, { query, variables }] of this.active) {
      this.send({ id, type: 'subscribe', payload: { query, variables } });
    }
    this.pingTimer = setInterval(() => {
      this.send({ type: 'ping' });
      this.pongTimer = setTimeout(() => this.socket?.close(4000, 'no pong'), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
    const reconnected = this.everOpened;
    this.everOpened = true;
    this.onStatus('open', { reconnected });
  }

  closedBy(socket, event) {
    if (socket !== this.socket) return;
    const wasAcknowledged = this.acknowledged;
    this.stopTimers();
    this.socket = null;
    this.acknowledged = false;
    if (this.closed) return;
    // A close before the acknowledgement with a reason is the server refusing the token.
    if (!wasAcknowledged && event.reason && (event.code === 1002 || event.code === 4401 || event.code === 4403)) {
      this.closed = true;
      this.onStatus('refused', { reason: event.reason });
      return;
    }
    const retryInMs = Math.min(RETRY_MAX_MS, 1000 * 2 ** this.attempts) * (0.8 + Math.random() * 0.4);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => this.connect(), retryInMs);
    this.onStatus('lost', { retryInMs });
  }

  stopTimers() {
    clearTimeout(this.ackTimer);
    clearTimeout(this.pongTimer);
    clearInterval(this.pingTimer);
  }
}

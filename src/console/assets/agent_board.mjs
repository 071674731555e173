// The agent board of the wallboard: every agent's state and time in state, calls and talk time
// today. `agentBoard` is read every few seconds for the day's counts; each agent's
// `agentEvents` moves its state the moment it changes (the API has no tenant-wide agent feed);
// time in state ticks here between the two.

import { request } from './graphql.mjs';
import { banner, clockDuration, errorText, fill, h, noteServerTime, percent, serverNow } from './widgets.mjs';

const BOARD = `query Board { agentBoard { agentId state since timeInStateSeconds callsToday talkTimeTodaySeconds
  occupancy pauseReason callId wrapUpEndsAt agent { name } } }`;
const EVENTS = `subscription AgentEvents($id: ID!) { agentEvents(agentId: $id) {
  agentId state since pauseReason callId missed } }`;
const POLL_MS = 5_000;
/** Agents followed one by one; a larger floor is read by polling alone. */
const FOLLOWED_AT_MOST = 100;

export class AgentBoard {
  constructor(root, api) {
    this.api = api;
    this.entries = new Map();
    this.follows = new Map();
    this.body = h('tbody');
    this.note = h('p', { class: 'hint' });
    fill(root, h('h2', { id: 'board-title' }, 'Agents'), this.note,
      h('div', { class: 'table-scroll' }, h('table', { class: 'board' },
        h('thead', {}, h('tr', {}, ['Agent', 'State', 'In state', 'Calls today', 'Talk today', 'Occupancy', '']
          .map((title) => h('th', { scope: 'col' }, title)))),
        this.body)));
    this.refresh();
    this.poll = setInterval(() => this.refresh(), POLL_MS);
    this.ticker = setInterval(() => this.render(), 1000);
  }

  async refresh() {
    let board;
    try {
      board = (await request(this.api.token, BOARD)).agentBoard;
      banner('board', null);
    } catch (error) {
      banner('board', `The agent board could not be read: ${errorText(error)}`);
      return;
    }
    if (this.stopped) return;
    this.entries = new Map(board.map((entry) => [entry.agentId, entry]));
    // since + time in state is the server's now.
    const first = board[0];
    if (first) noteServerTime(new Date(Date.parse(first.since) + first.timeInStateSeconds * 1000).toISOString());
    this.followAgents();
    this.render();
  }

  followAgents() {
    for (const id of this.entries.keys()) {
      if (this.follows.has(id) || this.follows.size >= FOLLOWED_AT_MOST) continue;
      this.follows.set(id, this.api.subscriptions.subscribe(EVENTS, { id }, {
        next: (data) => this.moved(data.agentEvents),
        error: () => this.follows.delete(id),
        complete: () => this.follows.delete(id),
      }));
    }
    fill(this.note, this.entries.size > FOLLOWED_AT_MOST
      ? `${this.entries.size} agents: states refresh every ${POLL_MS / 1000} s.`
      : `${this.entries.size} agents, live.`);
  }

  moved(event) {
    const entry = this.entries.get(event.agentId);
    if (!entry) return;
    if (event.missed > 0 || event.state === null) {
      this.refresh();
      return;
    }
    Object.assign(entry, { state: event.state, since: event.since, pauseReason: event.pauseReason, callId: event.callId });
    entry.timeInStateSeconds = null;
    this.render();
  }

  render() {
    const now = serverNow();
    const rows = [...this.entries.values()].sort((a, b) => Number(a.agentId) - Number(b.agentId)).map((entry) => {
      const inState = (now - Date.parse(entry.since)) / 1000;
      const detail = entry.state === 'PAUSED' ? entry.pauseReason ?? '' : entry.callId ? `call ${entry.callId}` : '';
      return h('tr', { dataset: { agentId: entry.agentId } },
        h('th', { scope: 'row', title: `agent ${entry.agentId}` }, entry.agent.name),
        h('td', {}, h('span', { class: 'state', dataset: { state: entry.state } }, entry.state.replace('_', ' '))),
        h('td', { class: 'number' }, clockDuration(inState)),
        h('td', { class: 'number' }, entry.callsToday),
        h('td', { class: 'number' }, clockDuration(entry.talkTimeTodaySeconds)),
        h('td', { class: 'number' }, entry.occupancy === null ? '—' : percent(entry.occupancy, 0)),
        h('td', {}, detail));
    });
    fill(this.body, rows.length ? rows : h('tr', {}, h('td', { colspan: 7 }, 'No agents in this tenant.')));
  }

  stop() {
    this.stopped = true;
    clearInterval(this.poll);
    clearInterval(this.ticker);
    for (const stop of this.follows.values()) stop();
    this.follows.clear();
  }
}

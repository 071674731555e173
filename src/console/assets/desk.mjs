// The agent desktop (an agent's own token): the agent's state and the buttons to change it
// (ready, pause with a reason, log off), the call offered with its screen pop (contact, script,
// previous attempts, CRM record), and the disposition form with the campaign's outcome tags,
// notes and a callback time. The offer is kept in the tab's session storage so that a reload
// during a call still shows it (the API does not send it twice).

import { request } from './graphql.mjs';
import { clockDuration, errorText, fill, h, localTime, noteServerTime, serverNow, tagLabel } from './widgets.mjs';

const AGENT = `query Agent($id: ID!) { agent(id: $id) { id name state stateReason stateSince } }`;
const EVENTS = `subscription Desk($id: ID!) { agentEvents(agentId: $id) {
  state since pauseReason callId missed
  offer { callId campaignId routingMethod matchScore screenPop outcomeTags } } }`;
const SET_STATE = `mutation SetState($id: ID!, $state: AgentState!, $reason: String) {
  setAgentState(agentId: $id, state: $state, reason: $reason) { state stateReason stateSince } }`;
const DISPOSITION = `mutation Disposition($call: ID!, $outcome: String!, $notes: String, $callbackAt: DateTime) {
  dispositionCall(callId: $call, outcome: $outcome, notes: $notes, callbackAt: $callbackAt) { id disposition } }`;

const OFFER_KEY = 'outdial.offer';
const PAUSE_REASONS = ['break', 'lunch', 'training', 'meeting', 'coaching'];
/** States in which the state machine keeps the agent where it is. */
const BUSY = new Set(['RESERVED', 'ON_CALL']);
const CALL_STATUS = {
  OFFLINE: 'Logged off. Press Ready to take calls.',
  AVAILABLE: 'Ready: waiting for a call.',
  RESERVED: 'A call is being connected to you…',
  ON_CALL: 'On the call.',
  WRAP_UP: 'The call has ended: set its disposition.',
  PAUSED: 'Paused.',
};

export class Desk {
  constructor(root, api) {
    this.api = api;
    this.agentId = String(api.claims.agentId);
    this.agent = null;
    this.offer = JSON.parse(sessionStorage.getItem(OFFER_KEY) ?? 'null');
    this.name = h('h1', {}, `Agent ${this.agentId}`);
    this.state = h('span', { class: 'state', id: 'agent-state' });
    this.inState = h('span', { class: 'hint' });
    this.reason = h('select', { id: 'pause-reason' }, PAUSE_REASONS.map((r) => h('option', { value: r }, r)));
    this.buttons = {
      AVAILABLE: h('button', { type: 'button', class: 'primary', onclick: () => this.setState('AVAILABLE') }, 'Ready'),
      PAUSED: h('button', { type: 'button', onclick: () => this.setState('PAUSED', this.reason.value) }, 'Pause'),
      OFFLINE: h('button', { type: 'button', onclick: () => this.setState('OFFLINE') }, 'Log off'),
    };
    this.stateError = h('p', { class: 'error', role: 'alert', hidden: true });
    this.callStatus = h('p', { class: 'call-status', id: 'call-status' });
    this.screenPop = h('div', { class: 'screen-pop' });
    this.disposition = h('section', { class: 'panel disposition', 'aria-labelledby': 'disposition-title' });
    this.saved = h('p', { class: 'saved', role: 'status' });
    fill(root, h('div', { class: 'desk' },
      h('section', { class: 'panel agent-status', 'aria-labelledby': 'agent-title' },
        h('header', { id: 'agent-title' }, this.name, this.state, this.inState),
        h('div', { class: 'controls', role: 'group', 'aria-label': 'Your state' },
          this.buttons.AVAILABLE,
          h('label', { for: 'pause-reason' }, 'Pause reason'), this.reason, this.buttons.PAUSED,
          this.buttons.OFFLINE),
        this.stateError),
      h('section', { class: 'panel call', 'aria-labelledby': 'call-title' },
        h('h2', { id: 'call-title' }, 'Current call'), this.callStatus, this.saved, this.screenPop),
      this.disposition));
    this.stopEvents = api.subscriptions.subscribe(EVENTS, { id: this.agentId }, {
      next: (data) => this.event(data.agentEvents),
      error: (error) => this.fail(`Live updates stopped — ${errorText(error)}`),
    });
    this.load();
    this.ticker = setInterval(() => this.showTimeInState(), 1000);
    this.showOffer();
  }

  async load() {
    try {
      const { agent } = await request(this.api.token, AGENT, { id: this.agentId });
      fill(this.name, agent.name, h('span', { class: 'hint' }, ` #${agent.id}`));
      this.agent = { state: agent.state, since: agent.stateSince, reason: agent.stateReason };
      this.showState();
    } catch (error) {
      this.fail(errorText(error));
    }
  }

  event(event) {
    if (event.missed > 0 || event.state === null) {
      this.load();
      return;
    }
    noteServerTime(event.since);
    this.agent = { state: event.state, since: event.since, reason: event.pauseReason, callId: event.callId };
    if (event.offer) {
      this.offer = event.offer;
      sessionStorage.setItem(OFFER_KEY, JSON.stringify(event.offer));
      this.showOffer();
    }
    this.showState();
  }

  showState() {
    if (!this.agent) return;
    const { state, reason } = this.agent;
    fill(this.state, state.replace('_', ' '), state === 'PAUSED' && reason ? ` (${reason})` : '');
    this.state.dataset.state = state;
    this.buttons.AVAILABLE.disabled = BUSY.has(state) || state === 'AVAILABLE';
    this.buttons.PAUSED.disabled = BUSY.has(state);
    this.buttons.OFFLINE.disabled = BUSY.has(state) || state === 'OFFLINE';
    fill(this.callStatus, CALL_STATUS[state] ?? state);
    const submit = this.disposition.querySelector('button[type=submit]');
    if (submit) submit.disabled = BUSY.has(state);
    this.showTimeInState();
  }

  showTimeInState() {
    if (this.agent) fill(this.inState, ` for ${clockDuration((serverNow() - Date.parse(this.agent.since)) / 1000)}`);
  }

  async setState(state, reason = null) {
    this.stateError.hidden = true;
    for (const button of Object.values(this.buttons)) button.disabled = true;
    try {
      const { setAgentState: agent } = await request(this.api.token, SET_STATE, { id: this.agentId, state, reason });
      this.agent = { ...this.agent, state: agent.state, since: agent.stateSince, reason: agent.stateReason };
    } catch (error) {
      this.fail(errorText(error));
    }
    this.showState();
  }

  fail(text) {
    fill(this.stateError, text);
    this.stateError.hidden = false;
  }

  /** The screen pop and the disposition form of the current offer, or nothing. */
  showOffer() {
    const offer = this.offer;
    if (!offer) {
      fill(this.screenPop);
      fill(this.disposition);
      this.disposition.hidden = true;
      return;
    }
    const pop = offer.screenPop ?? {};
    fill(this.screenPop,
      h('p', { class: 'hint' }, `Call ${offer.callId} · routed by ${offer.routingMethod.toLowerCase().replace('_', ' ')}`,
        ` · match ${Math.round(offer.matchScore)}/100`),
      contactCard(pop.contact ?? {}),
      pop.script ? h('section', {}, h('h3', {}, 'Script'), h('p', { class: 'script' }, pop.script)) : null,
      attempts(pop.previousAttempts ?? []),
      pop.crmRecord ? crmRecord(pop.crmRecord) : null);
    this.disposition.hidden = false;
    this.disposition.dataset.callId = offer.callId;
    fill(this.disposition, this.dispositionForm(offer));
  }

  dispositionForm(offer) {
    const callback = h('input', { id: 'callback-at', name: 'callbackAt', type: 'datetime-local', disabled: true });
    const tags = offer.outcomeTags ?? [];
    const outcomes = tags.length
      ? h('fieldset', { class: 'outcomes' }, h('legend', {}, 'Outcome'), tags.map((tag, i) => h('label', {},
        h('input', { type: 'radio', name: 'outcome', value: tag, required: i === 0, onchange: () => {
          callback.disabled = tag !== 'callback';
          callback.required = tag === 'callback';
        } }), ` ${tagLabel(tag)}`)))
      : [h('label', { for: 'outcome' }, 'Outcome tag'), h('input', { id: 'outcome', name: 'outcome', required: true })];
    const notes = h('textarea', { id: 'notes', name: 'notes', rows: 3, maxlength: 4000 });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Save disposition');
    submit.disabled = BUSY.has(this.agent?.state);
    const form = h('form', { onsubmit: async (event) => {
      event.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      const outcome = new FormData(form).get('outcome');
      // datetime-local is the browser's local time; the API takes RFC 3339.
      const callbackAt = !callback.disabled && callback.value ? new Date(callback.value).toISOString() : null;
      try {
        const variables = { call: offer.callId, outcome, notes: notes.value || null, callbackAt };
        const saved = (await request(this.api.token, DISPOSITION, variables)).dispositionCall;
        fill(this.saved, `Saved: ${saved.disposition} for call ${saved.id}.`);
        // The next call's offer may have come (agentEvents) before this answer: it stays.
        if (this.offer?.callId === offer.callId) {
          this.offer = null;
          sessionStorage.removeItem(OFFER_KEY);
          this.showOffer();
        }
      } catch (failure) {
        fill(error, errorText(failure));
        error.hidden = false;
        submit.disabled = false;
      }
    } },
    outcomes,
    h('label', { for: 'notes' }, 'Notes'), notes,
    h('label', { for: 'callback-at' }, 'Call back at (your local time; for a callback)'), callback,
    error, submit,
    h('p', { class: 'hint' }, 'You can save once the call has ended.'));
    return [h('h2', { id: 'disposition-title' }, `Disposition of call ${offer.callId}`), form];
  }

  reconnected() {
    this.load();
  }

  stop() {
    clearInterval(this.ticker);
    this.stopEvents();
  }
}

function contactCard(contact) {
  const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ') || 'Unnamed contact';
  const fields = Object.entries(contact.fields ?? {});
  return h('section', { class: 'contact' },
    h('h3', { class: 'contact-name' }, name),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Phone'), h('dd', {}, contact.phoneNumber ?? '—'),
      h('dt', {}, 'Email'), h('dd', {}, contact.email ?? '—'),
      h('dt', {}, 'State'), h('dd', {}, contact.state ?? '—'),
      h('dt', {}, 'Time zone'), h('dd', {}, contact.timezone ?? '—'),
      fields.map(([key, value]) => [h('dt', {}, key), h('dd', {}, shown(value))])));
}

function attempts(list) {
  if (list.length === 0) return h('section', {}, h('h3', {}, 'Previous attempts'), h('p', { class: 'hint' }, 'First call.'));
  return h('section', {}, h('h3', {}, 'Previous attempts'), h('table', {},
    h('thead', {}, h('tr', {}, ['When', 'Outcome', 'Agent', 'Notes'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, list.map((a) => h('tr', {},
      h('td', {}, localTime(a.at)), h('td', {}, tagLabel(a.outcome)), h('td', {}, a.agent ?? '—'),
      h('td', {}, a.notes ?? ''))))));
}

function crmRecord(record) {
  const body = record && typeof record === 'object' && !Array.isArray(record)
    ? h('dl', { class: 'facts' }, Object.entries(record).map(([key, value]) => [h('dt', {}, key), h('dd', {}, shown(value))]))
    : h('pre', {}, JSON.stringify(record, null, 2));
  return h('section', { class: 'crm-record' }, h('h3', {}, 'CRM record'), body);
}

function shown(value) {
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value ?? '—');
}

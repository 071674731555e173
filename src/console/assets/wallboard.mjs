// The supervisor wallboard: the tenant's campaigns with their status and controls, live tiles
// and 15-minute sparklines per campaign (the `campaignMetrics` subscription), the call-event
// ticker (`callEvents`), and beside them the agent board and the number check.

import { request } from './graphql.mjs';
import { AgentBoard } from './agent_board.mjs';
import { NumberCheck } from './check.mjs';
import {
  banner, count, decimal, errorText, fill, h, localTime, noteServerTime, percent, roughDuration,
  serverNow, sparkline,
} from './widgets.mjs';

const CAMPAIGNS = `query Campaigns { campaigns(first: 50) {
  totalCount nodes { id name status statusReason dialerMode } } }`;
const METRICS_FIELDS = `campaignId at totalDials answered humanAnswered abandoned answerRate connectionRate
  abandonmentRate abandonmentRateToday callsPerMinute agentsLoggedIn agentsOnCall agentUtilization dialLevel
  callsInFlight contactsRemaining estimatedCompletionTime costTotal`;
const METRICS_LIVE = `subscription Metrics($id: ID!) { campaignMetrics(campaignId: $id) { ${METRICS_FIELDS} } }`;
const METRICS_ONCE = `query Metrics($id: ID!) { campaignMetrics(campaignId: $id) { ${METRICS_FIELDS} } }`;
const CALL_EVENTS = `subscription Calls($id: ID!) { callEvents(campaignId: $id) {
  kind occurredAt missed call { id toNumber state outcome disposition } } }`;

/** The lifecycle mutations, and which a status offers. */
const ACTIONS = {
  schedule: { mutation: 'scheduleCampaign', label: 'Schedule' },
  start: { mutation: 'startCampaign', label: 'Start' },
  pause: { mutation: 'pauseCampaign', label: 'Pause' },
  resume: { mutation: 'resumeCampaign', label: 'Resume' },
  complete: { mutation: 'completeCampaign', label: 'Complete', confirm: 'Confirm: complete for good' },
};
const CONTROLS = {
  DRAFT: ['schedule'],
  SCHEDULED: ['start', 'complete'],
  RUNNING: ['pause', 'complete'],
  PAUSED: ['resume', 'complete'],
  COMPLETED: [],
};
/** Statuses whose figures move: followed live; the others are read once. */
const LIVE = new Set(['SCHEDULED', 'RUNNING', 'PAUSED']);

/** The rules' ceiling of the abandonment rate, and where "near it" begins. */
const ABANDON_LINE = 0.03;
const ABANDON_NEAR = 0.024;
const HISTORY_MS = 15 * 60_000;
const SAMPLE_EVERY_MS = 5_000;
const REFRESH_MS = 10_000;
const TICKER_LINES = 30;

export class Wallboard {
  constructor(root, api) {
    this.api = api;
    this.cards = new Map();
    this.list = h('div', { class: 'campaign-list', 'aria-live': 'off' });
    this.summary = h('p', { class: 'hint' });
    this.ticker = h('ol', { class: 'ticker', id: 'ticker', 'aria-label': 'Latest call events' });
    const boardRoot = h('section', { class: 'panel agent-board', 'aria-labelledby': 'board-title' });
    const checkRoot = h('section', { class: 'panel check', 'aria-labelledby': 'check-title' });
    fill(root, h('div', { class: 'wallboard' },
      h('section', { class: 'campaigns', 'aria-labelledby': 'campaigns-title' },
        h('h1', { id: 'campaigns-title' }, 'Campaigns'), this.summary, this.list),
      h('div', { class: 'side' },
        boardRoot,
        h('section', { class: 'panel', 'aria-labelledby': 'ticker-title' },
          h('h2', { id: 'ticker-title' }, 'Call events'), this.ticker),
        checkRoot)));
    this.board = new AgentBoard(boardRoot, api);
    this.check = new NumberCheck(checkRoot, api);
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    let page;
    try {
      page = (await request(this.api.token, CAMPAIGNS)).campaigns;
      banner('campaigns', null);
    } catch (error) {
      banner('campaigns', `Campaigns could not be read: ${errorText(error)}`);
      return;
    }
    if (this.stopped) return;
    const seen = new Set();
    for (const campaign of page.nodes) {
      seen.add(campaign.id);
      let card = this.cards.get(campaign.id);
      if (!card) {
        card = new CampaignCard(this, campaign);
        this.cards.set(campaign.id, card);
        this.list.append(card.root);
      }
      card.update(campaign);
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.stop();
        card.root.remove();
        this.cards.delete(id);
      }
    }
    fill(this.summary, page.totalCount === 0
      ? `No campaigns in tenant ${this.api.claims.tenant}.`
      : `${page.totalCount} campaign${page.totalCount === 1 ? '' : 's'} in tenant ${this.api.claims.tenant}.`);
    this.check.setCampaigns(page.nodes);
  }

  /** A line of the call-event ticker, newest on top. */
  tick(campaign, notice) {
    const at = localTime(notice.occurredAt ?? new Date(serverNow()).toISOString());
    const text = notice.missed > 0
      ? `${notice.missed} events missed (this page fell behind)`
      : `call ${notice.call?.id ?? '?'} ${notice.call?.toNumber ?? ''} · ${notice.kind}`
        + ` · ${notice.call?.outcome ?? notice.call?.state ?? ''}`
        + (notice.call?.disposition ? ` · ${notice.call.disposition}` : '');
    this.ticker.prepend(h('li', {}, h('time', {}, at), ' ', h('span', { class: 'campaign-name' }, campaign.name), ' ', text));
    while (this.ticker.childElementCount > TICKER_LINES) this.ticker.lastElementChild.remove();
  }

  reconnected() {
    this.refresh();
    this.board.refresh();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    for (const card of this.cards.values()) card.stop();
    this.board.stop();
  }
}

/** The tiles of a campaign: [key, label, value, detail, level] from its metrics. */
function tiles(m) {
  const abandonLevel = m.abandonmentRate > ABANDON_LINE ? 'over' : m.abandonmentRate >= ABANDON_NEAR ? 'near' : 'ok';
  const eta = m.estimatedCompletionTime;
  return [
    ['totalDials', 'Dials (30 days)', count(m.totalDials), `${count(m.answered)} answered · ${count(m.abandoned)} abandoned`],
    ['answerRate', 'Answer rate', percent(m.answerRate), `${percent(m.connectionRate)} reached an agent`],
    ['abandonmentRate', 'Abandonment (30 days)', percent(m.abandonmentRate, 2),
      `line ${percent(ABANDON_LINE, 0)} · today ${percent(m.abandonmentRateToday, 2)}`, abandonLevel],
    ['agentUtilization', 'Agent utilisation', percent(m.agentUtilization, 0),
      `${m.agentsOnCall} on call of ${m.agentsLoggedIn} logged in`],
    ['callsPerMinute', 'Calls per minute', decimal(m.callsPerMinute),
      `dial level ${decimal(m.dialLevel, 2)} · ${m.callsInFlight} in flight`],
    ['contactsRemaining', 'Contacts remaining', count(m.contactsRemaining), ''],
    ['estimatedCompletionTime', 'Estimated completion', eta ? localTime(eta) : '—',
      eta ? `in ${roughDuration((Date.parse(eta) - Date.parse(m.at)) / 1000)}` : 'nothing being dialed'],
    ['costTotal', 'Cost (30 days)', decimal(m.costTotal, 2), 'connected minutes × cost per minute'],
  ];
}

/** The sparklines of a campaign: [key, label, value of a sample, format, reference line]. */
const TRENDS = [
  ['dialLevel', 'Dial level', (m) => m.dialLevel, (v) => decimal(v, 2), null],
  ['abandonmentRate', 'Abandonment', (m) => m.abandonmentRate, (v) => percent(v, 2), ABANDON_LINE],
  ['agentUtilization', 'Utilisation', (m) => m.agentUtilization, (v) => percent(v, 0), null],
];

class CampaignCard {
  constructor(wallboard, campaign) {
    this.wallboard = wallboard;
    this.campaign = campaign;
    this.history = [];
    this.stops = [];
    const titleId = `campaign-${campaign.id}-title`;
    this.name = h('h2', { id: titleId });
    this.status = h('span', { class: 'status' });
    this.reason = h('p', { class: 'hint status-reason' });
    this.controls = h('div', { class: 'controls', role: 'group', 'aria-label': 'Campaign controls' });
    this.error = h('p', { class: 'error', role: 'alert', hidden: true });
    this.tiles = h('div', { class: 'tiles' });
    this.trends = h('div', { class: 'trends' });
    this.clock = h('p', { class: 'hint' });
    this.root = h('section', { class: 'panel campaign', dataset: { campaignId: campaign.id }, 'aria-labelledby': titleId },
      h('header', {}, this.name, this.status), this.reason, this.controls, this.error, this.tiles, this.trends,
      this.clock);
  }

  update(campaign) {
    const changed = campaign.status !== this.shownStatus;
    this.campaign = campaign;
    fill(this.name, campaign.name, h('span', { class: 'hint' }, ` #${campaign.id} · ${campaign.dialerMode.toLowerCase()}`));
    fill(this.status, campaign.status);
    this.status.dataset.status = campaign.status;
    fill(this.reason, campaign.statusReason ?? '');
    if (changed) {
      this.shownStatus = campaign.status;
      this.showControls();
      this.follow();
    }
  }

  showControls() {
    fill(this.controls, CONTROLS[this.campaign.status].map((action) => h('button', {
      type: 'button', dataset: { action }, onclick: (event) => this.press(action, event.currentTarget),
    }, ACTIONS[action].label)));
  }

  /** A control was pressed; "complete" asks for a second press within 5 s. */
  press(action, button) {
    const { confirm } = ACTIONS[action];
    if (confirm && button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = confirm;
      setTimeout(() => {
        button.dataset.armed = 'no';
        button.textContent = ACTIONS[action].label;
      }, 5000);
      return;
    }
    this.act(action);
  }

  async act(action) {
    for (const button of this.controls.querySelectorAll('button')) button.disabled = true;
    this.error.hidden = true;
    const { mutation } = ACTIONS[action];
    try {
      const data = await request(this.wallboard.api.token,
        `mutation Act($id: ID!) { ${mutation}(id: $id) { id name status statusReason dialerMode } }`,
        { id: this.campaign.id });
      this.update(data[mutation]);
      this.showControls();
    } catch (error) {
      fill(this.error, `${ACTIONS[action].label} failed — ${errorText(error)}`);
      this.error.hidden = false;
      this.showControls();
    }
  }

  /** Live figures and events while the campaign can move; its figures once otherwise. */
  follow() {
    const live = LIVE.has(this.campaign.status);
    if (live && this.stops.length === 0) {
      const { subscriptions } = this.wallboard.api;
      const variables = { id: this.campaign.id };
      this.stops.push(subscriptions.subscribe(METRICS_LIVE, variables, {
        next: (data) => this.show(data.campaignMetrics),
        error: (error) => this.problem(error),
      }));
      this.stops.push(subscriptions.subscribe(CALL_EVENTS, variables, {
        next: (data) => this.wallboard.tick(this.campaign, data.callEvents),
        error: (error) => this.problem(error),
      }));
    } else if (!live) {
      this.stop();
      if (this.campaign.status !== 'DRAFT') {
        request(this.wallboard.api.token, METRICS_ONCE, { id: this.campaign.id })
          .then((data) => this.show(data.campaignMetrics), (error) => this.problem(error));
      }
    }
  }

  problem(error) {
    fill(this.error, `Live figures stopped — ${errorText(error)}`);
    this.error.hidden = false;
  }

  show(metrics) {
    noteServerTime(metrics.at);
    const at = Date.parse(metrics.at);
    const last = this.history[this.history.length - 1];
    if (!last || at - last.at >= SAMPLE_EVERY_MS) this.history.push({ at, metrics });
    while (this.history.length > 0 && this.history[0].at < at - HISTORY_MS) this.history.shift();
    this.showTiles(metrics);
    this.showTrends(metrics, at);
    fill(this.clock, `Figures of ${localTime(metrics.at)}.`);
  }

  showTiles(metrics) {
    if (this.tiles.childElementCount === 0) {
      fill(this.tiles, tiles(metrics).map(([key, label]) => h('div', { class: 'tile', dataset: { metric: key } },
        h('span', { class: 'label' }, label), h('output', { class: 'value' }), h('span', { class: 'detail' }))));
    }
    for (const [key, , value, detail, level] of tiles(metrics)) {
      const tile = this.tiles.querySelector(`[data-metric="${key}"]`);
      tile.querySelector('.value').textContent = value;
      tile.querySelector('.detail').textContent = detail;
      if (level) tile.dataset.level = level;
    }
  }

  showTrends(metrics, at) {
    const from = at - HISTORY_MS;
    fill(this.trends, TRENDS.map(([key, label, pick, format, line]) => {
      const points = this.history.map((sample) => ({ t: sample.at, v: pick(sample.metrics) }));
      return h('figure', { class: 'trend', dataset: { trend: key } },
        sparkline(points, { from, to: at, line, label: `${label}, last 15 minutes` }),
        h('figcaption', {}, `${label} `, h('strong', {}, format(pick(metrics))),
          h('span', { class: 'hint' }, ' · 15 min')));
    }));
  }

  stop() {
    for (const stop of this.stops) stop();
    this.stops = [];
  }
}

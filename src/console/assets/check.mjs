// "Check a number": asks `complianceCheck` whether a number may be called now (for a campaign or
// in general) and shows the verdict with every failing rule and the next safe time. The check
// is audited by the server like any other.

import { request } from './graphql.mjs';
import { errorText, fill, h, localTime } from './widgets.mjs';

const CHECK = `query Check($phone: String!, $campaign: ID) {
  complianceCheck(phoneNumber: $phone, campaignId: $campaign) {
    phoneNumber safeToCall reasons { code message } timezones lineType jurisdictions warnings nextSafeCallTime } }`;

export class NumberCheck {
  constructor(root, api) {
    this.api = api;
    this.phone = h('input', { id: 'check-phone', name: 'phone', type: 'tel', required: true, autocomplete: 'off',
      placeholder: '(212) 555-0187' });
    this.campaign = h('select', { id: 'check-campaign', name: 'campaign' });
    this.result = h('div', { class: 'verdict', 'aria-live': 'polite' });
    this.button = h('button', { type: 'submit' }, 'Check');
    fill(root, h('h2', { id: 'check-title' }, 'Check a number'),
      h('form', { class: 'check-form', onsubmit: (event) => { event.preventDefault(); this.run(); } },
        h('label', { for: 'check-phone' }, 'Phone number'), this.phone,
        h('label', { for: 'check-campaign' }, 'For'), this.campaign,
        this.button),
      this.result);
    this.setCampaigns([]);
  }

  setCampaigns(campaigns) {
    const chosen = this.campaign.value;
    fill(this.campaign, h('option', { value: '' }, 'any campaign (strictest rules)'),
      campaigns.map((c) => h('option', { value: c.id }, c.name)));
    this.campaign.value = campaigns.some((c) => c.id === chosen) ? chosen : '';
  }

  async run() {
    this.button.disabled = true;
    fill(this.result, h('p', { class: 'hint' }, 'Checking…'));
    try {
      const variables = { phone: this.phone.value, campaign: this.campaign.value || null };
      const verdict = (await request(this.api.token, CHECK, variables)).complianceCheck;
      fill(this.result, render(verdict));
    } catch (error) {
      fill(this.result, h('p', { class: 'error', role: 'alert' }, errorText(error)));
    } finally {
      this.button.disabled = false;
    }
  }
}

function render(v) {
  const next = v.safeToCall
    ? 'now'
    : v.nextSafeCallTime ? `${localTime(v.nextSafeCallTime)} (${v.nextSafeCallTime})` : 'never: time does not help';
  return [
    h('p', { class: 'verdict-head', dataset: { safe: String(v.safeToCall) } },
      v.safeToCall ? 'Safe to call' : 'Not safe to call', ' · ', h('code', {}, v.phoneNumber)),
    v.reasons.length
      ? h('ul', { class: 'reasons' }, v.reasons.map((r) => h('li', {}, h('code', {}, r.code), ' ', r.message)))
      : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Next safe time'), h('dd', { class: 'next-safe' }, next),
      h('dt', {}, 'Time zones'), h('dd', {}, v.timezones.join(', ') || '—'),
      h('dt', {}, 'Line type'), h('dd', {}, v.lineType ?? '—'),
      h('dt', {}, 'Rules of'), h('dd', {}, v.jurisdictions.join(', ') || '—')),
    v.warnings.length ? h('ul', { class: 'warnings' }, v.warnings.map((w) => h('li', {}, w))) : null,
  ];
}

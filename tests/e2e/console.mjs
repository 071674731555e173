// The web console in headless Chromium, against a running `outdial serve --demo` (tests/console.rs
// starts it and passes what it printed). Each scenario drives the pages as a person would and
// checks the outcome through the API as well; any browser console error fails the run. A
// screenshot of each page is saved in ARTIFACTS.
//
// Environment: CONSOLE_URL (http://host:port), SUPERVISOR_LINK and AGENT_LINK (the console links
// `serve --demo` printed, token in the fragment), OTHER_TOKEN (a supervisor of another tenant),
// ARTIFACTS (a directory), CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/console.rs sets it)`);
  return value;
};
const base = need('CONSOLE_URL');
const supervisorLink = need('SUPERVISOR_LINK');
const agentLink = need('AGENT_LINK');
const otherToken = need('OTHER_TOKEN');
const artifacts = need('ARTIFACTS');
const supervisorToken = new URL(supervisorLink).hash.replace('#token=', '');
const agentToken = new URL(agentLink).hash.replace('#token=', '');
const deskAgentId = String(JSON.parse(Buffer.from(agentToken.split('.')[1], 'base64url')).agent_id);
mkdirSync(artifacts, { recursive: true });

const consoleErrors = [];
const started = Date.now();
const log = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);

/** The API as any client sees it: data, or a thrown error carrying extensions.code. */
async function api(token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    const error = new Error(body.errors[0].message);
    error.code = body.errors[0].extensions?.code;
    throw error;
  }
  return body.data;
}

const pages = [];

async function openPage(browser, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  pages.push([name, page]);
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${name}: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`${name}: ${error.message}`));
  return { context, page };
}

async function screenshot(page, name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
}

const campaignStatus = async (token) => (await api(token, '{ campaign(id: 1) { status } }')).campaign.status;

async function wallboard(browser) {
  const { context, page } = await openPage(browser, 'wallboard');
  await page.goto(supervisorLink);
  const card = page.locator('.campaign[data-campaign-id="1"]');
  await card.locator('.status', { hasText: 'RUNNING' }).waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('outdial.token')), supervisorToken);
  assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');

  log('wallboard: waiting for the dial count to move');
  const dials = card.locator('[data-metric="totalDials"] .value');
  await dials.waitFor();
  const first = await dials.textContent();
  await page.waitForFunction(
    (before) => document.querySelector('.campaign[data-campaign-id="1"] [data-metric="totalDials"] .value')?.textContent !== before,
    first, { timeout: 90_000 });
  log(`wallboard: dials ${first} → ${await dials.textContent()}`);
  for (const metric of ['answerRate', 'abandonmentRate', 'agentUtilization', 'callsPerMinute', 'contactsRemaining',
    'estimatedCompletionTime', 'costTotal']) {
    assert.notEqual(await card.locator(`[data-metric="${metric}"] .value`).textContent(), '', metric);
  }
  assert.match(await card.locator('[data-metric="abandonmentRate"]').getAttribute('data-level'), /^(ok|near|over)$/);
  assert.equal(await card.locator('svg.sparkline').count(), 3, 'three sparklines');
  await page.locator('table.board tbody tr[data-agent-id]').nth(12).waitFor(); // 12 simulated, 1 desk agent
  await page.locator('#ticker li').first().waitFor({ timeout: 30_000 });

  log('wallboard: checking a number');
  await page.getByLabel('Phone number').fill('800-555-1234');
  await page.getByRole('button', { name: 'Check' }).click();
  await page.locator('.verdict-head', { hasText: 'Not safe to call' }).waitFor();
  assert.match(await page.locator('.reasons').textContent(), /NOT_DIALABLE/);
  assert.match(await page.locator('.next-safe').textContent(), /never/);
  await screenshot(page, 'wallboard');
  await page.setViewportSize({ width: 820, height: 1180 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 820), 'fits a tablet’s width');
  await screenshot(page, 'wallboard-tablet');
  await page.setViewportSize({ width: 1280, height: 800 });

  log('wallboard: pausing the campaign from the page');
  await card.getByRole('button', { name: 'Pause' }).click();
  await card.locator('.status', { hasText: 'PAUSED' }).waitFor();
  assert.equal(await campaignStatus(supervisorToken), 'PAUSED', 'the API reports the pause');

  // An action the API refuses shows its error: resume through the API, then press the page's
  // now out-of-date Resume button (retried if the page's own refresh got there first).
  let refused = false;
  for (let attempt = 0; attempt < 3 && !refused; attempt += 1) {
    await card.getByRole('button', { name: 'Resume' }).waitFor();
    await api(supervisorToken, 'mutation { resumeCampaign(id: 1) { status } }');
    refused = await page.evaluate(() => {
      const button = document.querySelector('.campaign[data-campaign-id="1"] button[data-action="resume"]');
      button?.click();
      return Boolean(button);
    });
    if (!refused) await card.getByRole('button', { name: 'Pause' }).click();
  }
  assert.ok(refused, 'the page offered Resume on a running campaign');
  await card.locator('.error', { hasText: 'CONFLICT' }).waitFor();
  log(`wallboard: refusal shown: ${await card.locator('.error').textContent()}`);
  await card.locator('.status', { hasText: 'RUNNING' }).waitFor({ timeout: 20_000 });
  assert.equal(await campaignStatus(supervisorToken), 'RUNNING');
  await context.close();
}

async function desk(browser) {
  const { context, page } = await openPage(browser, 'desk');
  await page.goto(agentLink);
  const state = page.locator('#agent-state');
  await state.waitFor();
  log(`desk: agent ${deskAgentId} is ${await state.textContent()}`);
  const agentState = async () => (await api(supervisorToken, `{ agent(id: ${deskAgentId}) { state stateReason } }`)).agent;

  await page.getByLabel('Pause reason').selectOption('training');
  await page.getByRole('button', { name: 'Pause' }).click();
  await state.filter({ hasText: 'PAUSED (training)' }).waitFor();
  assert.deepEqual(await agentState(), { state: 'PAUSED', stateReason: 'training' });

  await page.getByRole('button', { name: 'Ready' }).click();
  log('desk: ready, waiting for an offer');
  await page.locator('.contact-name').waitFor({ timeout: 180_000 });
  const callId = await page.locator('.disposition').getAttribute('data-call-id');
  log(`desk: offered call ${callId} (${await page.locator('.contact-name').textContent()})`);
  assert.match(await page.locator('.script').textContent(), /Demo Insurance/);
  await screenshot(page, 'desk-offer');

  const save = page.getByRole('button', { name: 'Save disposition' });
  await page.waitForFunction(() => !document.querySelector('.disposition button[type=submit]')?.disabled,
    null, { timeout: 240_000 });
  log('desk: the call ended; setting the disposition');
  await page.getByLabel('sale').check();
  await page.getByLabel('Notes').fill('e2e: sold from the console');
  await save.click();
  await page.locator('.saved', { hasText: `Saved: sale for call ${callId}` }).waitFor();
  const { call } = await api(supervisorToken, `{ call(id: ${callId}) { disposition agentId } }`);
  assert.deepEqual(call, { disposition: 'sale', agentId: deskAgentId }, 'the API reports the disposition');
  await screenshot(page, 'desk');
  await context.close();
}

async function otherTenant(browser) {
  const { context, page } = await openPage(browser, 'other-tenant');
  const sockets = [];
  await context.routeWebSocket(/\/graphql\/ws$/, (ws) => {
    sockets.push(ws);
    ws.connectToServer();
  });
  await page.goto(base);
  await page.getByLabel('Token').waitFor();
  await screenshot(page, 'sign-in');
  await page.getByLabel('Token').fill(otherToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.campaigns .hint', { hasText: 'No campaigns in tenant elsewhere' }).waitFor();
  assert.equal(await page.locator('.campaign').count(), 0, 'none of demo’s campaigns');
  await page.locator('table.board', { hasText: 'No agents in this tenant' }).waitFor();
  await assert.rejects(api(otherToken, '{ campaign(id: 1) { name } }'), (error) => error.code === 'NOT_FOUND');
  assert.equal((await api(otherToken, '{ campaigns { totalCount } }')).campaigns.totalCount, 0);
  await screenshot(page, 'other-tenant');

  log('other tenant: dropping the live connection');
  const socket = sockets.at(-1);
  assert.ok(socket, 'the page opened its subscription connection');
  await socket.close({ code: 4000, reason: 'dropped by the test' });
  await page.locator('#banner', { hasText: 'Connection to the server lost' }).waitFor();
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 20_000 });
  assert.ok(sockets.length >= 2, 'the page connected again');
  await context.close();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const [name, scenario] of [['wallboard', wallboard], ['desk', desk], ['other tenant', otherTenant]]) {
    log(`${name}: start`);
    await scenario(browser);
    log(`${name}: passed`);
  }
} catch (error) {
  // What each open page showed when the run failed.
  for (const [name, page] of pages) {
    if (!page.isClosed()) await screenshot(page, `${name}-failure`).catch(() => {});
  }
  console.error(`browser console errors so far: ${JSON.stringify(consoleErrors)}`);
  throw error;
} finally {
  await browser.close();
}
assert.deepEqual(consoleErrors, [], 'no browser console errors');
log('all scenarios passed');

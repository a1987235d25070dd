// Issue 5, tests 1-4, in a real browser: Debian's chromium driven by
// playwright-core, against the installed stack (Nginx, accountd, PHP-FPM,
// Roundcube, Dovecot, Postfix) in the test's host, over HTTPS. The host name
// is mapped to the host's address, and only the test certificate's key is
// trusted (by its SPKI hash). Every step leaves a PNG in WEB_ARTIFACTS.
//
// Environment (set by tests/web/run): WEB_HOSTNAME, WEB_IP, WEB_SPKI,
// WEB_ARTIFACTS, WEB_USER_B and WEB_PASSWORD_B (a second mailbox made through
// the API), WEB_HELPER (a command that runs tests/web/helper inside the host).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const HOST = process.env.WEB_HOSTNAME;
const BASE = `https://${HOST}`;
const ARTIFACTS = process.env.WEB_ARTIFACTS;
const STEP_TIMEOUT = 30000;

let browser;
let shotNumber = 0;
const state = {};

function randomWord() {
  return 't' + Math.random().toString(36).slice(2, 11).padEnd(9, '0');
}

function strongPassword() {
  return 'Pw-' + Math.random().toString(36).slice(2, 10) + '-' + Math.random().toString(36).slice(2, 10);
}

// helper ARGS...: tests/web/helper run in the host (IMAP checks, admin API).
function helper(...args) {
  return execFileSync('bash', ['-c', `${process.env.WEB_HELPER} "$@"`, 'helper', ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

async function shot(page, name) {
  shotNumber += 1;
  const file = path.join(ARTIFACTS, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  page.on('pageerror', (e) => { state.pageErrors = (state.pageErrors || []).concat(String(e)); });
  return page;
}

async function roundcubeLogin(page, email, password) {
  await page.goto(`${BASE}/mail/`);
  await page.fill('#rcmloginuser', email);
  await page.fill('#rcmloginpwd', password);
  await Promise.all([page.waitForURL(/_task=mail/), page.click('#rcmloginsubmit')]);
  await page.waitForSelector('#mailboxlist');
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // playwright gives the browser a fresh profile (--user-data-dir) of its
  // own, which the SPKI allow-list needs, and removes it afterwards.
  browser = await chromium.launch({
    executablePath: process.env.WEB_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      `--host-resolver-rules=MAP ${HOST} ${process.env.WEB_IP}`,
      `--ignore-certificate-errors-spki-list=${process.env.WEB_SPKI}`,
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
});

test('1. sign up a new user on the sign-up page; the page shows success', async () => {
  const page = await newPage();
  state.userA = randomWord();
  state.passwordA = strongPassword();
  const response = await page.goto(`${BASE}/`);
  assert.equal(response.status(), 200);
  assert.ok(response.securityDetails(), 'the page came over TLS');
  await shot(page, 'signup-empty');
  await page.getByLabel('Choose an address').fill(state.userA);
  await page.getByLabel('Password', { exact: true }).fill(state.passwordA);
  await page.getByLabel('Password again').fill(state.passwordA);
  await shot(page, 'signup-filled');
  await page.getByRole('button', { name: 'Create mailbox' }).click();
  await page.waitForSelector('#signup-status:not([hidden])');
  await shot(page, 'signup-answer');
  assert.match(await page.locator('#signup-status').innerText(), /has been created/);
  assert.ok(await page.locator('#signup-done').isVisible());
  const domain = await page.evaluate(async () => (await (await fetch('/site.json')).json()).domain);
  state.emailA = `${state.userA}@${domain}`;
  assert.equal(await page.locator('.js-new-address').innerText(), state.emailA);
  assert.deepEqual(state.pageErrors || [], []);
  await page.context().close();
});

test('2. Roundcube: A sends to B; B sees it in the inbox and opens it', async () => {
  assert.ok(state.emailA, 'test 1 made user A');
  const emailB = process.env.WEB_USER_B;
  const subject = `Hello from the browser ${randomWord()}`;
  const body = `Body line of ${randomWord()}, sent through Roundcube.`;

  const page = await newPage();
  await roundcubeLogin(page, state.emailA, state.passwordA);
  await shot(page, 'roundcube-a-inbox');
  await page.goto(`${BASE}/mail/?_task=mail&_action=compose`);
  const to = page.locator('#compose_to input').first();
  await to.fill(emailB);
  await to.press('Enter');
  await page.fill('#compose-subject', subject);
  await page.fill('#composebody', body);
  await shot(page, 'roundcube-a-compose');
  await page.locator('button.send').first().click();
  await page.waitForURL(/_task=mail(?!.*_action=compose)/);
  await shot(page, 'roundcube-a-sent');
  await page.context().close();

  const pageB = await newPage();
  await roundcubeLogin(pageB, emailB, process.env.WEB_PASSWORD_B);
  const row = pageB.locator('#messagelist tr', { hasText: subject });
  for (let i = 0; i < 30 && (await row.count()) === 0; i += 1) {
    await pageB.waitForTimeout(1000);
    await pageB.goto(`${BASE}/mail/?_task=mail&_mbox=INBOX`);
    await pageB.waitForSelector('#mailboxlist');
  }
  await row.first().waitFor();
  await shot(pageB, 'roundcube-b-inbox');
  await row.first().dblclick();
  await pageB.waitForURL(/_action=show/);
  const shown = await pageB.locator('#messagebody').innerText();
  assert.ok(shown.includes(body), `the body is shown: ${shown}`);
  assert.ok((await pageB.locator('h2.subject').innerText()).includes(subject));
  await shot(pageB, 'roundcube-b-message');
  await pageB.context().close();
});

test('3. password changed in Roundcube: the old one fails over IMAP, the new one works', async () => {
  assert.ok(state.emailA, 'test 1 made user A');
  const newPassword = strongPassword();
  const page = await newPage();
  await roundcubeLogin(page, state.emailA, state.passwordA);
  await page.goto(`${BASE}/mail/?_task=settings&_action=plugin.password`);
  const save = page.locator('button.submit, .formbuttons button.mainaction').first();

  // accountd's rules apply, in accountd's words: not the address itself.
  await page.fill('#curpasswd', state.passwordA);
  await page.fill('#newpasswd', state.emailA);
  await page.fill('#confpasswd', state.emailA);
  await save.click();
  await page.locator('#messagestack', { hasText: /must not be your username or address/ }).waitFor();
  await shot(page, 'roundcube-password-refused');
  assert.equal(helper('imap-login', state.emailA, state.passwordA), 'ok', 'a refused change changes nothing');

  await page.goto(`${BASE}/mail/?_task=settings&_action=plugin.password`);
  await page.fill('#curpasswd', state.passwordA);
  await page.fill('#newpasswd', newPassword);
  await page.fill('#confpasswd', newPassword);
  await shot(page, 'roundcube-password-form');
  await save.click();
  await page.locator('#messagestack', { hasText: /Successfully saved/i }).waitFor();
  await shot(page, 'roundcube-password-saved');
  await page.context().close();

  assert.equal(helper('imap-login', state.emailA, newPassword), 'ok', 'the new password works over IMAP');
  assert.equal(helper('imap-login', state.emailA, state.passwordA), 'refused', 'the old password is refused');
  state.passwordA = newPassword;
});

test('4. sign-up errors are shown in words; the page works at 375 px', async () => {
  assert.ok(state.userA, 'test 1 made user A');
  const page = await newPage({ width: 375, height: 812 });
  await page.goto(`${BASE}/`);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 375, `no sideways scrolling at 375 px (content is ${scrollWidth} px wide)`);
  await shot(page, 'mobile-signup');

  // A taken name: accountd's already_exists, by the address field.
  const goodPassword = strongPassword();
  await page.getByLabel('Choose an address').fill(state.userA);
  await page.getByLabel('Password', { exact: true }).fill(goodPassword);
  await page.getByLabel('Password again').fill(goodPassword);
  await page.getByRole('button', { name: 'Create mailbox' }).click();
  await page.locator('#username-error', { hasText: 'already taken' }).waitFor();
  assert.equal(await page.getByLabel('Choose an address').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#signup-status').innerText(), /correct the marked field/);
  await shot(page, 'mobile-error-taken');

  // A weak password that passes the page's own length check: accountd's
  // weak_password, with its reason, by the password field.
  const name = randomWord();
  await page.getByLabel('Choose an address').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(name);
  await page.getByLabel('Password again').fill(name);
  await page.getByRole('button', { name: 'Create mailbox' }).click();
  await page.locator('#password-error', { hasText: 'too weak' }).waitFor();
  assert.match(await page.locator('#password-error').innerText(), /username or address/);
  assert.equal(await page.locator('#username-error').innerText(), '');
  await shot(page, 'mobile-error-weak');

  // Too short: caught by the page before any request.
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create mailbox' }).click();
  await page.locator('#password-error', { hasText: 'at least 10 characters' }).waitFor();

  // The controls stay inside the screen and large enough to tap.
  for (const selector of ['#username', '#password', 'button[type="submit"]']) {
    const box = await page.locator(selector).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, `${selector} fits in 375 px`);
    assert.ok(box.height >= 40, `${selector} is at least 40 px high`);
  }
  // Every input has a label a screen reader announces.
  const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input'))
    .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.id));
  assert.deepEqual(unlabelled, []);
  await shot(page, 'mobile-error-short');
  await page.context().close();
});

test('5. account page: log in, see the mailbox, change the password, delete the account', async () => {
  assert.ok(state.emailA, 'test 1 made user A');
  const page = await newPage({ width: 375, height: 812 });
  await page.goto(`${BASE}/account.html`);
  await page.getByLabel('Address', { exact: true }).fill(state.emailA);
  await page.getByLabel('Password', { exact: true }).fill('wrong-password-123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#account-status', { hasText: 'address or the password is wrong' }).waitFor();
  await shot(page, 'account-login-refused');

  await page.getByLabel('Password', { exact: true }).fill(state.passwordA);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.js-me-email', { hasText: state.emailA }).waitFor();
  await shot(page, 'account-me');

  const next = strongPassword();
  await page.getByLabel('Current password').fill(state.passwordA);
  await page.getByLabel('New password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('#account-status', { hasText: 'password is changed' }).waitFor();
  assert.equal(helper('imap-login', state.emailA, next), 'ok');

  await page.getByLabel('Password, to confirm').fill(next);
  await page.getByLabel('I understand').check();
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.locator('#account-status', { hasText: 'account is deleted' }).waitFor();
  await shot(page, 'account-deleted');
  assert.equal(helper('imap-login', state.emailA, next), 'refused', 'a deleted account cannot log in');
  await page.context().close();
});

test('6. sign-up by invite, sign-up closed and too many sign-ups are explained in words', async () => {
  const page = await newPage({ width: 375, height: 812 });
  const fill = async () => {
    const password = strongPassword();
    await page.getByLabel('Choose an address').fill(randomWord());
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Password again').fill(password);
    await page.getByRole('button', { name: 'Create mailbox' }).click();
  };
  try {
    assert.equal(helper('registration', 'invite'), 'invite');
    await page.goto(`${BASE}/`);
    await fill();
    await page.locator('#invite-error', { hasText: 'invitation' }).waitFor();
    assert.equal(await page.locator('#invite-box').getAttribute('open'), '', 'the invite field is shown');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'invite');
    await shot(page, 'mobile-error-invite-required');

    assert.equal(helper('registration', 'closed'), 'closed');
    await fill();
    await page.locator('#signup-status', { hasText: 'Sign-up is closed' }).waitFor();
    await shot(page, 'mobile-error-closed');
  } finally {
    helper('registration', 'open');
  }
  // Sign-ups go on from this client until its budget is spent
  // (ACCOUNTD_RATE_REGISTER, 5 an hour in each of the two accountd
  // processes, or Nginx's burst limit): then the page says to wait.
  let said = '';
  for (let attempt = 0; attempt < 12 && !/Too many attempts/.test(said); attempt += 1) {
    await page.goto(`${BASE}/`);
    await fill();
    await page.waitForSelector('#signup-status:not([hidden])');
    said = await page.locator('#signup-status').innerText();
  }
  assert.match(said, /Too many attempts from your network\. Please try again in \d+ minutes?\./);
  await shot(page, 'mobile-error-rate-limited');
  await page.context().close();
});

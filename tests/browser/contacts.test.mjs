// Issue 11 in a real browser (Debian's headless Chromium) against a real
// `vigie serve`: a contact with long names gets a consent SMS whose link is
// whole, accepts on a 390 px phone and is told clearly; the answer page on
// the phone confirms « J'appelle le 17 » unmistakably and dials 17; the
// desk's alarm page says what to tell the gendarmerie and never shows an
// answer link; a second operator must take the alarm over explicitly; an
// investigator cannot open alarms; once closed the answer page reveals
// nothing; an admin disables an account from the console. Screenshots of
// each, desktop and phone, in target/browser-artefacts/.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ARTEFACTS_DIR, DEADLINE_MS, Hub, answerLink, axeViolations, describeViolations, launchBrowser, run, screenshot, signIn, totp, vigie, waitFor } from './harness.mjs';

const TEST_TIMEOUT_MS = 90_000;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const HEADER = 'reference,name,address,insee,holder_name,holder_phone,opening_hours';
const SHOP = {
  reference: 'ARA-L01',
  name: 'Tabac Presse Loto PMU Le Grand Café du Centre',
  address: '14 boulevard du Maréchal de Lattre de Tassigny',
  insee: '63430',
  holder: 'Marie-Françoise de La Rochefoucauld',
  phone: '06 12 34 56 70',
};
const FRIEND = { name: 'Bernadette Saint-Exupéry-Delacroix', phone: '06 11 22 33 40' };
const POLICE = { name: 'Brigade de proximité de Thiers', phone: '06 56 78 90 10' };
const ACCOUNTS = {
  odile: { username: 'odile.desk', name: 'Odile Opératrice', role: 'operator', password: 'Veille-de-nuit-2026!' },
  paul: { username: 'paul.desk', name: 'Paul Permanence', role: 'operator', password: 'Permanence-du-soir-42' },
  ines: { username: 'ines.pj', name: 'Inès Enquêtrice', role: 'investigator', password: 'Procedure-penale-PV117', totp: true },
  admin: { username: 'admin.region', name: 'Adèle Admin', role: 'admin', password: 'Region-ARA-administration', totp: true },
  marie: { username: 'marie.f', name: 'Marie-Françoise de La Rochefoucauld', role: 'shopkeeper', password: 'Tabac-Presse-Loto-63', shop: 'ARA-L01' },
};
const csvLine = (s) => [s.reference, s.name, s.address, s.insee, s.holder, s.phone, ''].map((f) => (/[",]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',');

/** Whether the page scrolls sideways (content wider than the screen). */
// Compared with the phone's width itself: a mobile browser widens its layout
// viewport to fit wide content, so innerWidth would grow along.
const scrollsSideways = (page) => page.evaluate((w) => document.documentElement.scrollWidth > w, PHONE.viewport.width);

function assertPrivate(resp) {
  const h = resp.headers();
  assert.match(h['content-security-policy'] ?? '', /default-src 'none'.*frame-ancestors 'none'/, 'CSP');
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['referrer-policy'], 'no-referrer');
}

describe("the contacts' pages and the desk on a live alarm", { timeout: 10 * 60_000 }, () => {
  let hub;
  let browser;
  const contexts = [];
  let alarmId;
  let answerUrl;
  let failed = false;
  let n = 0;

  const step = (name, fn) => {
    const k = ++n;
    return it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        for (const [i, p] of contexts.flatMap((c) => c.pages()).entries()) {
          await screenshot(p, `contacts-failed-${k}-page-${i + 1}.png`).catch(() => {});
        }
        throw e;
      }
    });
  };

  async function newContext(options = {}) {
    const context = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 900 }, ...options });
    context.setDefaultTimeout(DEADLINE_MS);
    contexts.push(context);
    return context;
  }

  before(async () => {
    failed = true;
    fs.mkdirSync(ARTEFACTS_DIR, { recursive: true });
    hub = await Hub.create();
    await hub.importShops(`${HEADER}\n${csvLine(SHOP)}\n`);
    await hub.admin(['contact', 'add', '--shop', SHOP.reference, '--name', FRIEND.name, '--phone', FRIEND.phone, '--relation', 'friend', '--tier', '1']);
    await hub.admin(['contact', 'add', '--shop', SHOP.reference, '--name', POLICE.name, '--phone', POLICE.phone, '--relation', 'police', '--tier', '2']);
    for (const a of Object.values(ACCOUNTS)) a.secret = await hub.addAccount(a);
    // The browser contexts say where they are (X-Forwarded-For) as a TLS
    // terminator on this machine would: the lock-out test needs two addresses.
    fs.appendFileSync(hub.config, '[console]\ntrusted_proxies = ["127.0.0.1"]\n');
    await hub.start();
    browser = await launchBrowser();
    failed = false;
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await hub?.stop();
    if (hub && failed) console.log(`hub files: ${hub.dir}`);
    else hub?.remove();
  });

  step('the consent SMS keeps its link whole with long names; accepting on a phone is clear', async () => {
    // What the friend's phone received, read from the hub's outbox (the
    // log gateway of `vigie serve` prints nothing).
    const line = await waitFor(
      async () => (await run('sqlite3', [path.join(hub.dir, 'vigie.db'), "SELECT text FROM notifications WHERE purpose = 'consent'"])).stdout.trim(),
      { what: 'the consent SMS in the outbox' },
    );
    const link = line.match(/https?:\/\/\S+\/c\/[A-Za-z0-9]+/)?.[0] ?? '';
    assert.match(link, /\/c\/[A-Za-z0-9]{12}$/, `the whole token is in the SMS: ${line}`);
    const phone = await (await newContext({ ...PHONE, bypassCSP: true })).newPage();
    const resp = await phone.goto(link);
    assert.equal(resp.status(), 200, 'the link opens (it used to 404, cut in the SMS)');
    assertPrivate(resp);
    await Promise.all([phone.waitForNavigation(), phone.click('button[name=consent][value=yes]')]);
    const body = await phone.locator('body').innerText();
    assert.match(body, /C'est noté\s: vous êtes contact d'urgence/);
    assert.match(body, /garde votre numéro tant que/);
    assert.equal(await phone.locator('button[name=consent][value=no]').count(), 1, 'withdraw on the web');
    assert.equal(await scrollsSideways(phone), false, 'fits 390 px');
    const v = await axeViolations(phone);
    assert.equal(v.length, 0, describeViolations(v));
    await screenshot(phone, 'consent-phone.png');
  });

  step('on a phone the answer page confirms « J\'appelle le 17 » and offers the call', async () => {
    const state = path.join(hub.dir, 'device.json');
    await vigie(['device', '--state', state, 'enroll', '--hub', hub.url, '--code', await hub.enrolmentCode(SHOP.reference)]);
    await vigie(['device', '--state', state, 'press']);
    alarmId = JSON.parse(fs.readFileSync(state, 'utf8')).last_alarm;
    const detail = await waitFor(
      async () => {
        const d = await hub.alarm(alarmId);
        return d.notifications.some((x) => x.purpose === 'alert' && answerLink(x.text)) && d;
      },
      { what: 'the alert SMS with its link' },
    );
    const sms = detail.notifications.find((x) => x.purpose === 'alert' && answerLink(x.text)).text;
    answerUrl = answerLink(sms);
    assert.ok(sms.endsWith(answerUrl), `the alert ends with its whole link: ${sms}`);

    const context = await newContext({ ...PHONE, bypassCSP: true });
    const phone = await context.newPage();
    const resp = await phone.goto(answerUrl);
    assertPrivate(resp);
    assert.equal(await scrollsSideways(phone), false, 'fits 390 px');
    await Promise.all([phone.waitForNavigation(), phone.click('button[name=answer][value=calling_police]')]);
    assert.match(await phone.locator('[role=status]').innerText(), /Réponse enregistrée\s: J'appelle le 17/);
    assert.equal(await phone.locator('button[value=calling_police]').getAttribute('aria-pressed'), 'true', 'the chosen button is marked');
    assert.match(await phone.locator('button[value=coming]').innerText(), /^Changer/, 'the others changed');
    assert.equal(await phone.locator('a.call[href="tel:17"]').count(), 1, 'one tap dials 17');
    assert.equal(await scrollsSideways(phone), false, 'still fits 390 px');
    const v = await axeViolations(phone);
    assert.equal(v.length, 0, describeViolations(v));
    await screenshot(phone, 'answer-phone.png');
  });

  step('the desk reads what to tell the gendarmerie; no answer link anywhere on the page', async () => {
    const context = await newContext({ bypassCSP: true });
    const desk = await context.newPage();
    await signIn(desk, hub, ACCOUNTS.odile.username, ACCOUNTS.odile.password);
    await desk.goto(`${hub.url}/console/alarms/${alarmId}`);
    const code = (await hub.alarm(alarmId)).alarm.code;
    assert.equal(await desk.title(), `${SHOP.name} — ${code} — Vigie`, 'the title is the shop and code, not a UUID');
    assert.match(await desk.locator('h1').innerText(), new RegExp(`${code}`));
    assert.match(await desk.locator('#alarm-address').innerText(), /boulevard du Maréchal/);
    assert.match(await desk.locator('#alarm-coming').innerText(), /Bernadette.*J'appelle le 17/);
    const html = await desk.content();
    assert.ok(!html.includes('/r/'), 'no answer link on the alarm page');
    assert.match(html, /lien personnel masqué/);
    const v = await axeViolations(desk);
    assert.equal(v.length, 0, describeViolations(v));
    await Promise.all([desk.waitForNavigation(), desk.click('form#take [type=submit]')]);
    assert.match(await desk.locator('#desk-holder').innerText(), /Vous suivez cette alarme/);
    await screenshot(desk, 'alarm-desk.png');

    // A second operator sees who has it and must take it over on purpose.
    const other = await (await newContext()).newPage();
    await signIn(other, hub, ACCOUNTS.paul.username, ACCOUNTS.paul.password);
    await other.goto(`${hub.url}/console/alarms/${alarmId}`);
    assert.match(await other.locator('#desk-holder').innerText(), /odile\.desk/);
    await Promise.all([other.waitForNavigation(), other.click('form#take [type=submit]')]);
    assert.match(await other.locator('#timeline').innerText(), /à la place de odile\.desk/);
    await screenshot(other, 'alarm-taken-over.png');

    // On the board the title says an alarm is open.
    await other.goto(`${hub.url}/console/board`);
    await waitFor(async () => /ALARME/.test(await other.title()), { what: 'the tab title to say an alarm is open' });
  });

  step('an investigator cannot open alarms (recordings only)', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, hub, ACCOUNTS.ines.username, ACCOUNTS.ines.password, { code: async () => totp(ACCOUNTS.ines.secret) });
    assert.equal((await page.goto(`${hub.url}/console/alarms/${alarmId}`)).status(), 403);
    assert.equal((await page.goto(`${hub.url}/console/alarms`)).status(), 403);
  });

  step('once closed, the answer page reveals nothing', async () => {
    await hub.admin(['alarm', 'resolve', alarmId, '--outcome', 'false_alarm']);
    const phone = await (await newContext(PHONE)).newPage();
    const resp = await phone.goto(answerUrl);
    assertPrivate(resp);
    const body = await phone.locator('body').innerText();
    assert.match(body, /Cette alarme est close/);
    for (const secret of [SHOP.name, 'boulevard', 'Rochefoucauld', 'Bernadette', '06 12 34 56 70', 'geo:']) {
      assert.ok(!(await phone.content()).includes(secret), `${secret} on a closed alarm's page`);
    }
    await screenshot(phone, 'answer-closed-phone.png');
  });

  step('on a 390 px phone without JavaScript the shopkeeper sees her shop; the board says it will not update', async () => {
    const context = await newContext({ ...PHONE, javaScriptEnabled: false });
    const page = await context.newPage();
    await signIn(page, hub, ACCOUNTS.marie.username, ACCOUNTS.marie.password);
    await page.goto(`${hub.url}/console/board`);
    assert.match(await page.locator('main').innerText(), /ne se met pas à jour tout seul/);
    assert.equal(await page.locator('svg.region-map').count(), 0, "her board shows her shop, not the Region's map");
    assert.match(await page.locator('.my-shop').innerText(), new RegExp(SHOP.name));
    assert.equal(await scrollsSideways(page), false, 'the board fits 390 px');
    await screenshot(page, 'shopkeeper-board-phone.png');
    const shops = await hub.admin(['shop', 'list'], { json: true });
    await page.goto(`${hub.url}/console/shops/${shops.find((x) => x.reference === SHOP.reference).id}`);
    const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391).slice(0, 5).map((e) => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`));
    assert.equal(await scrollsSideways(page), false, `her shop page fits 390 px: ${wide.join(', ')}`);
    await screenshot(page, 'shopkeeper-shop-phone.png');
    await page.goto(`${hub.url}/console/alarms`);
    assert.equal(await scrollsSideways(page), false, 'her alarm list fits 390 px');
  });

  step('a stranger guessing « paul.desk » from elsewhere does not keep Paul out (429 with Retry-After for the stranger)', async () => {
    const desk = await (await newContext({ extraHTTPHeaders: { 'X-Forwarded-For': '10.0.0.7' } })).newPage();
    await signIn(desk, hub, ACCOUNTS.paul.username, ACCOUNTS.paul.password);
    await desk.context().clearCookies();
    const stranger = await (await newContext({ extraHTTPHeaders: { 'X-Forwarded-For': '203.0.113.9' } })).newPage();
    let resp;
    for (let attempt = 0; attempt < 6; attempt++) {
      await stranger.goto(`${hub.url}/console/sign-in`);
      await stranger.fill('#username', ACCOUNTS.paul.username);
      await stranger.fill('#password', `pas-le-bon-${attempt}`);
      [resp] = await Promise.all([stranger.waitForResponse((r) => r.request().method() === 'POST'), stranger.click('form#sign-in [type=submit]')]);
      if (resp.status() === 429) break;
    }
    assert.equal(resp.status(), 429, 'the guesser is slowed down');
    assert.match(resp.headers()['retry-after'] ?? '', /^\d+$/, 'Retry-After in seconds');
    await signIn(desk, hub, ACCOUNTS.paul.username, ACCOUNTS.paul.password);
    assert.match(desk.url(), /\/console(\/board)?$/, 'Paul signs in at once from his desk');
  });

  step('an admin disables an account from the console; the new-account form has no default role', async () => {
    const page = await (await newContext({ bypassCSP: true })).newPage();
    await signIn(page, hub, ACCOUNTS.admin.username, ACCOUNTS.admin.password, { code: async () => totp(ACCOUNTS.admin.secret) });
    await page.goto(`${hub.url}/console/accounts`);
    assert.equal(await page.locator('#na-role').inputValue(), '', 'no role chosen in advance');
    const accounts = await hub.admin(['account', 'list'], { json: true });
    const paul = accounts.find((a) => a.username === ACCOUNTS.paul.username);
    const row = page.locator(`#account-${paul.id}`);
    await row.locator('summary').click();
    await Promise.all([page.waitForNavigation(), row.locator('button[value=disable]').click()]);
    assert.match(await page.locator(`#account-${paul.id}`).innerText(), /désactivé/);
    const v = await axeViolations(page);
    assert.equal(v.length, 0, describeViolations(v));
    await screenshot(page, 'accounts.png');
    const other = await (await newContext()).newPage();
    await other.goto(`${hub.url}/console/sign-in`);
    await other.fill('#username', ACCOUNTS.paul.username);
    await other.fill('#password', ACCOUNTS.paul.password);
    const [resp] = await Promise.all([other.waitForResponse((r) => r.request().method() === 'POST'), other.click('form#sign-in [type=submit]')]);
    assert.equal(resp.status(), 401, 'a disabled account cannot sign in');
  });
});

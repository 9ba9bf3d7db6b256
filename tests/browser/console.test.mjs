// The console in a real browser (Debian's headless Chromium) against a real
// `vigie serve`: the desk sees a press from `vigie simulate` and a contact's
// answer arrive on its board without reloading, opens and closes the alarm;
// shops are imported from CSV all or nothing; a shopkeeper sees only their
// shop; an investigator must give a reason before hearing a recording made
// by the real box (`vigie agent`), and the admin's audit log shows it;
// statistics render; the pages pass axe-core's serious and critical rules
// and work from the keyboard; and the hub's logs hold no password, phone
// number, session cookie or TOTP secret.
//
// One hub for the whole file; the tests run in order and build on each
// other (the alarm of test 2 is the one resolved in test 3).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ARTEFACTS_DIR,
  DEADLINE_MS,
  Hub,
  answerLink,
  axeViolations,
  describeViolations,
  launchBrowser,
  phoneForms,
  run,
  screenshot,
  signIn,
  startProcess,
  stopChild,
  totp,
  vigie,
  VIGIE_BIN,
  waitFor,
} from './harness.mjs';

/** A test's own deadline, in ms (the whole file stays well under three minutes). */
const TEST_TIMEOUT_MS = 90_000;
/** What the evidence page asks at least, in characters (`REASON_CHARS_MIN`). */
const REASON_TOO_SHORT = 'pour voir';
const LISTEN_REASON = 'Réquisition judiciaire PV 2026/117 — vol à main armée';
const EXPORT_REASON = 'Transmission au parquet, PV 2026/117';
const SESSION_COOKIES = ['vigie_session', 'vigie_presign'];

const HEADER = 'reference,name,address,insee,holder_name,holder_phone,opening_hours';
const SHOPS = {
  centre: { reference: 'ARA-T01', name: 'Tabac du Centre', address: '3 place de la Mairie', insee: '63430', holder: 'Jeanne Martin', phone: '06 12 34 56 78' },
  halles: { reference: 'ARA-T02', name: 'Boulangerie des Halles', address: '8 rue des Gras', insee: '63113', holder: 'Paul Girard', phone: '06 23 45 67 89' },
  gare: { reference: 'ARA-T03', name: 'Presse de la Gare', address: '1 place de la Gare', insee: '38185', holder: 'Nadia Haddad', phone: '06 34 56 78 90' },
  bijoux: { reference: 'ARA-T04', name: 'Bijouterie Lumière', address: '20 rue Michelet', insee: '42218', holder: 'Louis Perrin', phone: '06 45 67 89 01' },
};
const CONTACTS = [
  // Police and the Region's desk need no opt-in: alerted from the first alarm.
  { shop: 'centre', name: 'Brigade de Thiers', phone: '06 56 78 90 12', relation: 'police' },
  // A friend who has not accepted yet: gets the consent request, never an alert.
  { shop: 'centre', name: 'Marie Dupont', phone: '06 11 22 33 44', relation: 'friend' },
  { shop: 'bijoux', name: 'Gendarmerie de Saint-Étienne', phone: '06 67 89 01 23', relation: 'police' },
];
const ACCOUNTS = {
  operator: { username: 'odile.desk', name: 'Odile Opératrice', role: 'operator', password: 'Veille-de-nuit-2026!' },
  keyboard: { username: 'karim.desk', name: 'Karim Clavier', role: 'operator', password: 'Clavier-seul-7319?' },
  axe: { username: 'alice.desk', name: 'Alice Accessible', role: 'operator', password: 'Contraste-suffisant-88' },
  shopkeeper: { username: 'jeanne.martin', name: 'Jeanne Martin', role: 'shopkeeper', password: 'Tabac-du-Centre-63300', shop: 'ARA-T01' },
  investigator: { username: 'ines.pj', name: 'Inès Enquêtrice', role: 'investigator', password: 'Procedure-penale-PV117' },
  admin: { username: 'admin.region', name: 'Adèle Admin', role: 'admin', password: 'Region-ARA-administration', totp: true },
};

const csvLine = (s) => [s.reference, s.name, s.address, s.insee, s.holder, s.phone, ''].map((f) => (/[",]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',');

describe('the console in Chromium', { timeout: 10 * 60_000 }, () => {
  /** @type {Hub} */
  let hub;
  let browser;
  /** Contexts to close at the end (their cookies are collected first). */
  const contexts = [];
  /** Every secret that must never reach the hub's logs. */
  const secrets = { passwords: Object.values(ACCOUNTS).map((a) => a.password), totp: [], cookies: new Set() };
  const shopIds = {};
  let desk; // the operator's page, signed in once
  let deskNavigations = 0;
  let simulatedAlarmId;
  let alarmId; // the press of test 2 on the Tabac du Centre
  let contextCount = 0;
  /** Set when anything fails: the hub's files are then kept for a look. */
  let failed = false;

  let stepCount = 0;

  /**
   * One test in the order of the story. A failure keeps the hub's files and
   * saves a screenshot and the HTML of every open page.
   */
  const step = (name, fn) => {
    const n = ++stepCount;
    return it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        const pages = contexts.flatMap((c) => c.pages());
        for (const [i, p] of pages.entries()) {
          await screenshot(p, `failed-${n}-page-${i + 1}.png`).catch(() => {});
          await p
            .content()
            .then((html) => fs.writeFileSync(path.join(ARTEFACTS_DIR, `failed-${n}-page-${i + 1}.html`), `<!-- ${p.url()} -->\n${html}`))
            .catch(() => {});
        }
        throw e;
      }
    });
  };

  async function newContext(options = {}) {
    const context = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 900 }, ...options });
    context.setDefaultTimeout(DEADLINE_MS);
    context.__name = `context-${++contextCount}`;
    contexts.push(context);
    return context;
  }

  async function collectCookies(context) {
    for (const c of await context.cookies()) if (SESSION_COOKIES.includes(c.name) && c.value) secrets.cookies.add(c.value);
  }

  before(async () => {
    failed = true; // until the hub is up and signed in to
    fs.rmSync(ARTEFACTS_DIR, { recursive: true, force: true }); // no stale screenshot from an earlier run
    hub = await Hub.create({ tsa: true });
    await hub.importShops(`${HEADER}\n${Object.values(SHOPS).map(csvLine).join('\n')}\n`);
    for (const c of CONTACTS) {
      await hub.admin(['contact', 'add', '--shop', SHOPS[c.shop].reference, '--name', c.name, '--phone', c.phone, '--relation', c.relation, '--tier', '1']);
    }
    for (const s of await hub.admin(['shop', 'list'], { json: true })) shopIds[s.reference] = s.id;
    for (const a of Object.values(ACCOUNTS)) {
      const secret = await hub.addAccount(a);
      if (a.totp) {
        assert.match(secret ?? '', /^[A-Z2-7]{16,}$/, `account add --with-totp prints the base32 secret for ${a.username}`);
        a.secret = secret;
        secrets.totp.push(secret);
      }
    }
    await hub.start();
    browser = await launchBrowser();
    const context = await newContext();
    desk = await context.newPage();
    await signIn(desk, hub, ACCOUNTS.operator.username, ACCOUNTS.operator.password);
    await collectCookies(context);
    failed = false;
  });

  after(async () => {
    for (const c of contexts) {
      await collectCookies(c).catch(() => {});
      await c.close().catch(() => {});
    }
    await browser?.close();
    await hub?.stop();
    if (hub && failed) console.log(`hub files (config, database, stdout, stderr): ${hub.dir}`);
    else hub?.remove();
    console.log(`screenshots: ${ARTEFACTS_DIR}`);
  });

  step('a press from `vigie simulate` appears on the board without reload', async () => {
    const live = desk.waitForResponse((r) => r.url().includes('/console/live'));
    await desk.goto(`${hub.url}/console/board`);
    await live; // the event stream is open: the board now follows the store
    await desk.evaluate(() => {
      window.__marker = 'same document';
    });
    desk.on('framenavigated', (f) => {
      if (f === desk.mainFrame()) deskNavigations += 1;
    });
    assert.equal(await desk.locator(`article.alarm[data-shop-id="${shopIds[SHOPS.gare.reference]}"]`).count(), 0, 'no alarm for the simulated shop yet');
    assert.equal(await desk.locator('svg.region-map').count(), 1, 'the board has the Region map');

    const codes = path.join(hub.dir, 'codes.txt');
    fs.writeFileSync(codes, `${await hub.enrolmentCode(SHOPS.gare.reference)}\n`);
    // Presses are a Poisson process: at 600 a minute for one second, ten are
    // expected and none at all happens with probability e^-10.
    const sim = await vigie(['simulate', '--hub', hub.url, '--devices', '1', '--codes', codes, '--press-per-min', '600', '--duration-s', '1', '--heartbeat-s', '3600']);
    const taken = Number(sim.stdout.match(/alarms taken by the hub (\d+)/)?.[1] ?? 0);
    assert.ok(taken >= 1, `vigie simulate had an alarm taken by the hub:\n${sim.stdout}`);

    const article = desk.locator(`article.alarm[data-state=open][data-shop-id="${shopIds[SHOPS.gare.reference]}"]`).first();
    await article.waitFor();
    assert.equal(await article.locator('.shop-name').innerText(), SHOPS.gare.name);
    simulatedAlarmId = await article.getAttribute('data-alarm-id');
    // The map follows: the shop becomes an alarm dot, still without reload.
    await desk.locator(`svg.region-map .shop.s-alarm[data-shop-id="${shopIds[SHOPS.gare.reference]}"]`).waitFor();
    assert.equal(await desk.evaluate(() => window.__marker), 'same document', 'the page was not reloaded');
    assert.equal(deskNavigations, 0, 'no navigation happened');
    await screenshot(desk, 'board.png');
  });

  step("a contact's answer through the SMS link shows on the board without reload", async () => {
    const state = path.join(hub.dir, 'device.json');
    await vigie(['device', '--state', state, 'enroll', '--hub', hub.url, '--code', await hub.enrolmentCode(SHOPS.centre.reference)]);
    await vigie(['device', '--state', state, 'press']);
    alarmId = JSON.parse(fs.readFileSync(state, 'utf8')).last_alarm;
    assert.ok(alarmId, 'vigie device press remembers its alarm');

    const article = desk.locator(`article.alarm[data-alarm-id="${alarmId}"]`);
    await article.locator('li.contact[data-delivery]').first().waitFor();
    const rows = article.locator('li.contact[data-delivery]');
    assert.equal(await rows.count(), 1, 'only the contact who accepted is alerted (the friend has not consented)');
    assert.match(await rows.first().innerText(), /Brigade de Thiers/);
    assert.equal(await rows.first().getAttribute('data-answer'), '', 'no answer yet');

    const detail = await waitFor(
      async () => {
        const d = await hub.alarm(alarmId);
        return d.notifications.some((n) => n.purpose === 'alert' && answerLink(n.text)) && d;
      },
      { what: 'the alert SMS with its answer link' },
    );
    const link = answerLink(detail.notifications.find((n) => n.purpose === 'alert' && answerLink(n.text)).text);
    assert.ok(link.startsWith(`${hub.url}/r/`), `the link points at the hub: ${link}`);

    const phone = await (await newContext()).newPage(); // the contact's phone: no console session
    await phone.goto(link);
    assert.match(await phone.locator('body').innerText(), new RegExp(SHOPS.centre.name));
    await Promise.all([phone.waitForNavigation(), phone.click('button[name=answer][value=coming]')]);

    await article.locator('li.contact[data-answer=coming]').waitFor();
    assert.equal(await desk.evaluate(() => window.__marker), 'same document', 'the page was not reloaded');
    assert.equal(deskNavigations, 0, 'no navigation happened');
  });

  step('the operator takes the alarm, adds a note and resolves it as a false alarm', async () => {
    assert.ok(alarmId, 'the previous test raised the alarm');
    const page = desk;
    // The map (drawn at load) shows the shops with a running alarm as alarm dots.
    await page.goto(`${hub.url}/console/board`);
    for (const shop of [SHOPS.centre, SHOPS.gare]) {
      assert.equal(await page.locator(`svg.region-map .shop.s-alarm[data-shop-id="${shopIds[shop.reference]}"]`).count(), 1, `${shop.name} is an alarm dot`);
    }
    await page.goto(`${hub.url}/console/alarms/${alarmId}`);
    assert.match(await page.locator('#alarm-state').getAttribute('data-state'), /^(open|acknowledged)$/);
    assert.ok((await page.locator('#timeline li').count()) >= 1, 'the timeline lists what happened');

    await Promise.all([page.waitForNavigation(), page.click('form#take [type=submit]')]);
    await page.locator('#alarm-state[data-state=acknowledged]').waitFor();

    const note = 'Appel au titulaire : bouton pressé par erreur en rangeant le comptoir.';
    await page.fill('form#note textarea[name=text]', note);
    await Promise.all([page.waitForNavigation(), page.click('form#note [type=submit]')]);
    await page.locator('#timeline li', { hasText: note }).waitFor();

    await page.selectOption('form#resolve select[name=outcome]', 'false_alarm');
    await Promise.all([page.waitForNavigation(), page.click('form#resolve [type=submit]')]);
    await page.locator('#alarm-state[data-state=resolved]').waitFor();
    assert.match(await page.locator('#alarm-state').innerText(), /fausse alerte/);
    const stored = await hub.alarm(alarmId);
    assert.equal(stored.alarm.state, 'resolved');
    assert.equal(stored.alarm.outcome, 'false_alarm');
    await screenshot(page, 'alarm.png');
  });

  step('a CSV with one bad line reports it and imports nothing; a good one imports', async () => {
    const page = desk;
    await page.goto(`${hub.url}/console/shops`);
    const before = Number(await page.locator('#shop-count').getAttribute('data-count'));
    assert.equal(before, Object.keys(SHOPS).length);
    const open = async () => {
      const summary = page.locator('details:has(form#import) > summary');
      if (!(await page.locator('details:has(form#import)').evaluate((d) => d.open))) await summary.click();
    };
    const good1 = { reference: 'ARA-T05', name: 'Fleurs du Marché', address: '2 place du Marché', insee: '01004', holder: 'Claire Roux', phone: '06 78 90 12 34' };
    const good2 = { reference: 'ARA-T06', name: 'Librairie du Lycée', address: '5 cours Berriat', insee: '38185', holder: 'Hugo Blanc', phone: '06 89 01 23 45' };
    const bad = { ...good2, reference: 'ARA-T07', insee: '99999' }; // no such commune
    await open();
    await page.fill('form#import textarea[name=csv]', `${HEADER}\n${csvLine(good1)}\n${csvLine(bad)}\n`);
    await Promise.all([page.waitForNavigation(), page.click('form#import [type=submit]')]);
    const errors = page.locator('.import-errors li');
    assert.equal(await errors.count(), 1, 'one bad line, one error');
    assert.match(await errors.first().innerText(), /\b3\b/, 'the error names line 3');
    assert.equal(Number(await page.locator('#shop-count').getAttribute('data-count')), before, 'nothing was imported');
    assert.equal((await hub.admin(['shop', 'list'], { json: true })).length, before);

    // A file chosen in a browser without JavaScript: every problem of every line at once.
    const noScript = await newContext({ javaScriptEnabled: false });
    const plain = await noScript.newPage();
    await signIn(plain, hub, ACCOUNTS.operator.username, ACCOUNTS.operator.password);
    await plain.goto(`${hub.url}/console/shops`);
    const worse = { ...bad, reference: 'ARA-T08', phone: '06 12 ab', name: '' };
    await plain.locator('details:has(form#import) > summary').click();
    await plain.setInputFiles('form#import input[type=file]', { name: 'boutiques.csv', mimeType: 'text/csv', buffer: Buffer.from(`${HEADER}\r\n${csvLine(good1)}\r\n${csvLine(bad)}\r\n${csvLine(worse)}\r\n`) });
    await Promise.all([plain.waitForNavigation(), plain.click('form#import [type=submit]')]);
    const listed = await plain.locator('.import-errors li').allInnerTexts();
    assert.deepEqual(
      listed.map((l) => l.split(' : ')[0]),
      ['ligne 3', 'ligne 4', 'ligne 4', 'ligne 4'],
      `line 3's commune; line 4's name, commune and phone: ${listed.join(' | ')}`,
    );
    assert.equal((await hub.admin(['shop', 'list'], { json: true })).length, before, 'nothing was imported');

    await open();
    await page.fill('form#import textarea[name=csv]', `${HEADER}\n${csvLine(good1)}\n${csvLine(good2)}\n`);
    await Promise.all([page.waitForNavigation(), page.click('form#import [type=submit]')]);
    await page.locator('.notice').waitFor();
    assert.equal(await page.locator('.import-errors li').count(), 0);
    assert.equal(Number(await page.locator('#shop-count').getAttribute('data-count')), before + 2);
    for (const s of await hub.admin(['shop', 'list'], { json: true })) shopIds[s.reference] = s.id;
    assert.ok(shopIds['ARA-T05'] && shopIds['ARA-T06'], 'both shops are in the store');
  });

  step("a shopkeeper sees their own shop only; another shop's page and alarm are 404", async () => {
    const context = await newContext();
    const page = await context.newPage();
    await signIn(page, hub, ACCOUNTS.shopkeeper.username, ACCOUNTS.shopkeeper.password);
    await collectCookies(context);

    const own = await page.goto(`${hub.url}/console/shops/${shopIds[SHOPS.centre.reference]}`);
    assert.equal(own.status(), 200);
    assert.match(await page.locator('h1').innerText(), new RegExp(SHOPS.centre.name));
    assert.equal(await page.locator('#contacts tr[data-contact-id]').count(), 2, 'their two contacts');
    assert.equal(await page.locator('form#add-contact').count(), 1, 'they can add a contact');

    // She edits her own shop's record; a problem is said next to its field.
    await page.locator('#edit-shop-block > summary').click();
    await page.fill('#shop-opening_hours', 'lundi 7h');
    await Promise.all([page.waitForNavigation(), page.click('form#edit-shop [type=submit]')]);
    assert.match(await page.locator('#shop-opening_hours-problem').innerText(), /Horaires : /);
    assert.equal(await page.locator('#shop-opening_hours').getAttribute('aria-invalid'), 'true');
    await page.fill('#shop-opening_hours', 'lu-sa 07:00-19:30');
    await Promise.all([page.waitForNavigation(), page.click('form#edit-shop [type=submit]')]);
    assert.match(await page.locator('.notice').innerText(), /Fiche de la boutique enregistrée/);
    assert.match(await page.locator('dl.facts').innerText(), /du lundi au samedi/);

    const other = await page.goto(`${hub.url}/console/shops/${shopIds[SHOPS.halles.reference]}`);
    assert.equal(other.status(), 404, "another shop's page is not found (its existence is not revealed)");
    assert.ok(simulatedAlarmId, 'test 1 raised an alarm at another shop');
    const otherAlarm = await page.goto(`${hub.url}/console/alarms/${simulatedAlarmId}`);
    assert.equal(otherAlarm.status(), 404, "another shop's alarm is not found");
    const ownAlarm = await page.goto(`${hub.url}/console/alarms/${alarmId}`);
    assert.equal(ownAlarm.status(), 200, 'their own alarm opens');

    await page.goto(`${hub.url}/console/board`);
    const names = await page.locator('article.alarm .shop-name').allInnerTexts();
    assert.ok(names.length >= 1, 'their alarm of the day is on their board');
    assert.deepEqual([...new Set(names)], [SHOPS.centre.name], 'only their shop on their board');
  });

  step('an investigator sets up TOTP, must give a reason to hear a recording, and the audit log shows it', async () => {
    // The real box records on a double press, a WAV file standing for its microphone.
    const wav = path.join(hub.dir, 'speech.wav');
    await run('espeak-ng', ['-v', 'fr', '-w', wav, "Donnez-moi la caisse, tout de suite. Personne ne bouge."]);
    const agentConfig = path.join(hub.dir, 'agent.toml');
    fs.writeFileSync(
      agentConfig,
      `state_dir = ${JSON.stringify(path.join(hub.dir, 'box'))}\n[button]\nkind = "stdin"\n[timing]\ndirect_sms_delay_ms = 600000\n[recorder]\nwav = ${JSON.stringify(wav)}\n`,
    );
    await vigie(['agent', '--config', agentConfig, 'enroll', '--hub', hub.url, '--code', await hub.enrolmentCode(SHOPS.bijoux.reference)]);
    const agent = hub.adopt(
      startProcess(VIGIE_BIN, ['agent', '--config', agentConfig], { stdin: 'pipe', stdoutFile: path.join(hub.dir, 'agent.stdout'), stderrFile: path.join(hub.dir, 'agent.stderr') }),
    );
    agent.child.stdin.write('d\n');
    const ended = await agent.waitForOutput(/recording ended: /, { what: 'the end of the recording' });
    const recordingId = ended.match(/recording ended: ([0-9a-f-]{36})/)[1];
    await waitFor(async () => (await hub.admin(['recording', 'list'], { json: true })).find((r) => r.id === recordingId && r.is_final), {
      what: `recording ${recordingId} complete on the hub`,
    });
    await stopChild(agent.child, 'SIGINT');

    // First sign-in: the role requires a second factor; the page shows the key.
    // (CSP bypassed only so that axe-core can be injected at the end.)
    const context = await newContext({ bypassCSP: true });
    const page = await context.newPage();
    await signIn(page, hub, ACCOUNTS.investigator.username, ACCOUNTS.investigator.password, {
      code: async (p) => {
        const secret = (await p.locator('[data-testid=totp-secret]').innerText()).trim();
        secrets.totp.push(secret);
        return totp(secret);
      },
    });
    await collectCookies(context);

    const audioUrl = `${hub.url}/console/recordings/${recordingId}/audio`;
    assert.equal((await context.request.get(audioUrl)).status(), 403, 'no audio before a reason is given');
    await page.goto(`${hub.url}/console/recordings/${recordingId}`);
    assert.equal(await page.locator('audio#player').count(), 0);

    // The browser would stop a short reason (minlength); the hub must too.
    await page.locator('form#access').evaluate((f) => f.setAttribute('novalidate', ''));
    await page.fill('form#access textarea[name=reason]', REASON_TOO_SHORT);
    await Promise.all([page.waitForNavigation(), page.click('form#access [type=submit]')]);
    assert.equal(await page.locator('audio#player').count(), 0, 'a too-short reason gives no access');
    assert.match(await page.locator('main [role=alert]').innerText(), /Motif trop court \(9 caractères\) : 10 caractères au moins/, 'the refusal says why');
    assert.equal((await page.locator('#recording-shop').innerText()).trim(), SHOPS.bijoux.name, 'the page names the shop');
    assert.match(await page.locator('#custody').innerText(), /Personne n'a encore écouté/, 'an empty custody log says so');
    assert.equal((await context.request.get(audioUrl)).status(), 403);

    await page.fill('form#access textarea[name=reason]', LISTEN_REASON);
    await Promise.all([page.waitForNavigation(), page.click('form#access [type=submit]')]);
    assert.equal(await page.locator('audio#player').count(), 1, `a proper reason opens the player; the page says: ${await page.locator('main').innerText()}`);
    const audio = await context.request.get(audioUrl);
    assert.equal(audio.status(), 200, 'the audio plays after a reason');
    assert.equal((await audio.body()).subarray(0, 4).toString('latin1'), 'OggS', 'Ogg Opus audio');
    assert.ok((await page.locator('.markers-list li.m-speech').count()) >= 1, 'the speech is marked');

    // The player can seek: the audio is served by ranges.
    const whole = await audio.body();
    assert.equal(audio.headers()['accept-ranges'], 'bytes');
    const part = await context.request.get(audioUrl, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status(), 206, 'a range is answered 206');
    assert.equal(part.headers()['content-range'], `bytes 100-199/${whole.length}`);
    assert.deepEqual(await part.body(), whole.subarray(100, 200), 'the bytes asked for');
    const past = await context.request.get(audioUrl, { headers: { Range: `bytes=${whole.length}-` } });
    assert.equal(past.status(), 416, 'a range past the end is refused');
    assert.equal(past.headers()['content-range'], `bytes */${whole.length}`);
    const duration = await page.locator('audio#player').evaluate(
      (a) => new Promise((resolve) => (Number.isFinite(a.duration) && a.duration > 0 ? resolve(a.duration) : a.addEventListener('durationchange', () => Number.isFinite(a.duration) && resolve(a.duration)))),
    );
    assert.ok(duration > 1, `the player knows the length (${duration} s)`);
    const custody = page.locator('#custody tr[data-action=listen]');
    assert.equal(await custody.count(), 1, 'the listen is in the custody log on the page');
    assert.equal((await custody.locator('td.reason').innerText()).trim(), LISTEN_REASON);
    assert.match(await custody.innerText(), new RegExp(ACCOUNTS.investigator.username));

    // The evidence export downloads, and `vigie verify` accepts it offline.
    await page.fill('form#export textarea[name=reason]', EXPORT_REASON);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('form#export [type=submit]')]);
    const zip = path.join(hub.dir, 'export.zip');
    await download.saveAs(zip);
    // Unanchored, it verifies but says so (exit 3); anchored to the trust
    // file the Region publishes, it verifies (exit 0).
    const unanchored = await vigie(['verify', zip], { allowFailure: true });
    assert.equal(unanchored.code, 3, `vigie verify says the export is not anchored:\n${unanchored.stdout}${unanchored.stderr}`);
    const trust = path.join(hub.dir, 'trust.txt');
    await vigie(['admin', '--config', hub.config, 'trust', 'export', '--region', 'Auvergne-Rhône-Alpes', '--out', trust]);
    const verified = await vigie(['verify', '--trust', trust, zip], { allowFailure: true });
    assert.equal(verified.code, 0, `vigie verify --trust accepts the export:\n${verified.stdout}${verified.stderr}`);
    await page.goto(`${hub.url}/console/recordings/${recordingId}`);
    assert.equal((await page.locator('#custody tr[data-action=export] td.reason').innerText()).trim(), EXPORT_REASON, 'the export is in the custody log');
    const violations = await axeViolations(page);
    assert.equal(violations.length, 0, `the recording's page:\n${describeViolations(violations)}`);

    const adminContext = await newContext();
    const admin = await adminContext.newPage();
    await signIn(admin, hub, ACCOUNTS.admin.username, ACCOUNTS.admin.password, { code: async () => totp(ACCOUNTS.admin.secret) });
    await collectCookies(adminContext);
    await admin.goto(`${hub.url}/console/audit`);
    const row = admin.locator('#audit tr', { has: admin.locator('td.action', { hasText: 'evidence_listen' }) });
    assert.ok((await row.count()) >= 1, 'the listen is in the audit log');
    assert.equal((await row.first().locator('td.reason').innerText()).trim(), LISTEN_REASON);
    const exported = admin.locator('#audit tr', { has: admin.locator('td.reason', { hasText: EXPORT_REASON }) });
    assert.ok((await exported.count()) >= 1, 'the export is in the audit log with its reason');
  });

  step('statistics render a chart and a CSV', async () => {
    const page = desk;
    await page.goto(`${hub.url}/console/stats`);
    assert.equal(await page.locator('svg.chart').count(), 3, 'three server-side SVG charts');
    // Readable at a glance: each chart says what it shows and names both axes.
    for (const chart of await page.locator('svg.chart').all()) {
      assert.ok((await chart.locator('text.chart-title').textContent()).length > 5, 'a visible title');
      assert.equal(await chart.locator('text.axis-name').count(), 2, 'both axes named');
      const box = await chart.boundingBox();
      assert.ok(box.width >= 500, `wide enough on a desk screen (${box.width} px)`);
    }
    assert.match(await page.locator('svg.chart text.axis-name.y').first().textContent(), /Alarmes \(nombre\)/);
    const href = await page.locator('a#stats-csv').getAttribute('href');
    const csv = await page.context().request.get(new URL(href, hub.url).href);
    assert.equal(csv.status(), 200);
    assert.match(await csv.text(), /^\uFEFF?zone,alarmes/);
    await screenshot(page, 'stats.png');
  });

  step('the pages pass axe-core (no serious or critical violation)', async () => {
    // The injected script must run despite the console's CSP (script-src 'self').
    const context = await newContext({ bypassCSP: true });
    const page = await context.newPage();
    const found = [];
    const check = async (what, url) => {
      const resp = await page.goto(url);
      assert.equal(resp.status(), 200, `${what} opens`);
      const v = await axeViolations(page);
      if (v.length) found.push(`${what} (${url}):\n${describeViolations(v)}`);
    };
    await check('sign-in', `${hub.url}/console/sign-in`);
    await signIn(page, hub, ACCOUNTS.axe.username, ACCOUNTS.axe.password);
    await collectCookies(context);
    await check('board', `${hub.url}/console/board`);
    await check('alarm', `${hub.url}/console/alarms/${alarmId}`);
    await check('shops', `${hub.url}/console/shops`);
    await check('stats', `${hub.url}/console/stats`);
    assert.equal(found.length, 0, `accessibility violations:\n${found.join('\n')}`);
  });

  step('the keyboard alone reaches the skip link first and signs in', async () => {
    // The first Tab from the top of a page reaches the skip link, which leads to the content.
    const page = desk;
    await page.goto(`${hub.url}/console/board`);
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => ({ tag: document.activeElement.tagName, href: document.activeElement.getAttribute('href') }));
    assert.deepEqual(first, { tag: 'A', href: '#main' }, 'the skip link comes first');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'the skip link moves focus to the content');

    // Signing in with the keyboard alone (the username field has autofocus).
    const context = await newContext();
    const kb = await context.newPage();
    await kb.goto(`${hub.url}/console/sign-in`);
    for (let i = 0; i < 10 && (await kb.evaluate(() => document.activeElement?.id)) !== 'username'; i++) await kb.keyboard.press('Tab');
    assert.equal(await kb.evaluate(() => document.activeElement?.id), 'username', 'Tab reaches the username field');
    await kb.keyboard.type(ACCOUNTS.keyboard.username);
    await kb.keyboard.press('Tab');
    assert.equal(await kb.evaluate(() => document.activeElement?.id), 'password', 'then the password field');
    await kb.keyboard.type(ACCOUNTS.keyboard.password);
    await Promise.all([kb.waitForURL(/\/console\/board$/), kb.keyboard.press('Enter')]);
    await collectCookies(context);
    assert.equal(await kb.locator('form#sign-out').count(), 1, 'signed in');
  });

  step('the language switch turns the page to English', async () => {
    const page = desk;
    await page.goto(`${hub.url}/console/board`);
    assert.equal(await page.getAttribute('html', 'lang'), 'fr', 'French by default');
    await Promise.all([page.waitForNavigation(), page.click('a#lang-switch')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.locator('h1').innerText(), /Board/);
    assert.equal(new URL(page.url()).pathname, '/console/board', 'back on the same page');
    await Promise.all([page.waitForNavigation(), page.click('a#lang-switch')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
  });

  step('repeated failed sign-ins are slowed down: 429 « réessayez dans N s »', async () => {
    // Last of the sign-ins: the client address is throttled afterwards.
    const context = await newContext();
    const page = await context.newPage();
    let status = 0;
    for (let attempt = 0; attempt < 10 && status !== 429; attempt++) {
      await page.goto(`${hub.url}/console/sign-in`);
      await page.fill('#username', 'personne.inconnue');
      await page.fill('#password', `mauvais-mot-de-passe-${attempt}`);
      const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/console/sign-in')), page.click('form#sign-in [type=submit]')]);
      status = resp.status();
      if (status !== 429) assert.equal(status, 401, 'a wrong password is refused');
    }
    assert.equal(status, 429, 'failures end in 429');
    assert.match(await page.locator('[role=alert]').innerText(), /réessayez dans \d+ s/i);
  });

  step("the hub's logs hold no password, phone number, session cookie or TOTP secret", async () => {
    for (const c of contexts) await collectCookies(c);
    const logs = hub.logs();
    assert.ok(logs.length > 0, 'the hub logged something (debug level)');
    assert.ok(secrets.cookies.size >= 5, `session cookies were collected (${secrets.cookies.size})`);
    assert.ok(secrets.totp.length >= 2, 'both TOTP secrets were collected');
    const phones = [...Object.values(SHOPS), { phone: '06 78 90 12 34' }, { phone: '06 89 01 23 45' }, ...CONTACTS].flatMap((p) => phoneForms(p.phone));
    const leaks = [
      ...secrets.passwords.filter((p) => logs.includes(p)).map(() => 'a password'),
      ...phones.filter((p) => logs.includes(p)).map((p) => `phone ${p}`),
      ...[...secrets.cookies].filter((c) => logs.includes(c)).map(() => 'a session cookie'),
      ...secrets.totp.filter((s) => logs.includes(s)).map(() => 'a TOTP secret'),
    ];
    assert.deepEqual(leaks, [], `found in ${hub.stderrFile}`);
  });
});

describe('the harness', () => {
  it('computes RFC 6238 codes (the RFC test vector, six digits)', () => {
    // Secret "12345678901234567890", T = 59 s → 94287082 (8 digits) → 287082.
    assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082');
    assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1_111_111_109_000), '081804');
  });
});

// The browser tests' harness: a real `vigie serve` on a free loopback port
// with a fresh SQLite file and the log gateway, seeded beforehand with the
// admin CLI; the test time-stamping authority (`tests/peers/tsa/`) so the
// vault can take recordings; the real box (`vigie agent`) and the command
// line button (`vigie device`, `vigie simulate`); Debian's headless Chromium
// driven by playwright-core (never a downloaded browser); RFC 6238 codes for
// the second factor. Every process started here is killed at the end, on
// failure too.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VIGIE_BIN = path.resolve(REPO_ROOT, process.env.VIGIE_BIN || 'target/debug/vigie');
export const CHROMIUM = '/usr/bin/chromium';
export const ARTEFACTS_DIR = path.join(REPO_ROOT, 'target/browser-artefacts');
export const AXE_PATH = fileURLToPath(import.meta.resolve('axe-core/axe.min.js'));

/** How long something a working hub does in well under a second may take on a loaded 2-core machine, in ms. */
export const DEADLINE_MS = 30_000;
/** How often a condition is looked at again while waiting for it, in ms. */
const POLL_MS = 100;
/** How long a process is given to stop after SIGINT/SIGTERM before SIGKILL, in ms. */
const STOP_GRACE_MS = 3_000;
/** A TOTP step (RFC 6238), in seconds. */
const TOTP_STEP_S = 30;
const TOTP_DIGITS = 6;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Chromium's command line: headless, no sandbox (CI runs as root), nothing that reaches the network by itself. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// ---- Processes ----

/** Every child still running, killed at exit whatever happens. */
const children = new Set();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

process.once('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Stop a child: `signal`, then SIGKILL after a grace period; resolves when it has exited. */
export async function stopChild(child, signal = 'SIGTERM') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Run a command to completion: { code, stdout, stderr }. Rejects when it
 * exits non-zero unless `allowFailure`.
 */
export async function run(cmd, args, { input, env, cwd, allowFailure = false } = {}) {
  // Without input the child's stdin is /dev/null: a pipe written to after a
  // fast child (sqlite3 with its query in argv) has exited fails with EPIPE.
  const stdin = input === undefined ? 'ignore' : 'pipe';
  const child = track(spawn(cmd, args, { cwd: cwd ?? REPO_ROOT, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  let stdinError;
  if (child.stdin) {
    // A child may exit without reading all its input; its exit code says what went wrong.
    child.stdin.on('error', (e) => {
      if (e.code !== 'EPIPE') stdinError = e;
    });
    child.stdin.end(input);
  }
  const [code] = await once(child, 'close');
  if (stdinError) throw stdinError;
  if (code !== 0 && !allowFailure) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')} exited with ${code}\n${stdout}${stderr}`);
  }
  return { code, stdout, stderr };
}

/** `vigie ARGS…` to completion. */
export function vigie(args, opts) {
  return run(VIGIE_BIN, args, opts);
}

/**
 * Start a long-running process whose stdout/stderr go to files (and are
 * kept in memory for `waitForOutput`).
 */
export function startProcess(cmd, args, { env, stdoutFile, stderrFile, stdin = 'ignore' } = {}) {
  const child = track(spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] }));
  const out = { stdout: '', stderr: '' };
  const files = { stdout: stdoutFile && fs.createWriteStream(stdoutFile), stderr: stderrFile && fs.createWriteStream(stderrFile) };
  const waiters = [];
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8').on('data', (d) => {
      out[stream] += d;
      files[stream]?.write(d);
      for (const w of [...waiters]) w.check();
    });
  }
  child.once('exit', () => {
    for (const w of [...waiters]) w.check(true);
  });
  /** The first line of `stream` matching `re` (waits for it, fails if the process exits first). */
  const waitForOutput = (re, { stream = 'stdout', timeoutMs = DEADLINE_MS, what = String(re) } = {}) =>
    new Promise((resolve, reject) => {
      const w = {
        check(exited = false) {
          const line = out[stream].split('\n').find((l) => re.test(l));
          if (line !== undefined) {
            done();
            resolve(line);
          } else if (exited || child.exitCode !== null) {
            done();
            reject(new Error(`${path.basename(cmd)} exited (${child.exitCode ?? child.signalCode}) before printing ${what}:\n${out.stdout}\n${out.stderr}`));
          }
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${path.basename(cmd)}:\n${out.stdout}\n${out.stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
      };
      waiters.push(w);
      w.check();
    });
  const closed = async () => {
    for (const f of Object.values(files)) if (f) await new Promise((r) => f.end(r));
  };
  return { child, out, waitForOutput, closed };
}

/** Wait until `probe()` returns something truthy; polls, fails with `what` after the deadline. */
export async function waitFor(probe, { timeoutMs = DEADLINE_MS, what = 'a condition', intervalMs = POLL_MS } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last?.stack ?? JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A free loopback port: bind port 0, read it, close. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

// ---- TOTP (RFC 6238 over RFC 4226) ----

export function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${ch}`);
    buffer = ((buffer << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The six-digit code of `secret` (base32) for the step holding `timeMs`. */
export function totp(secret, timeMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / TOTP_STEP_S)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0');
}

// ---- Phones ----

/** "06 12 34 56 78" → its forms: E.164, national with spaces, national digits. */
export function phoneForms(national) {
  const digits = national.replace(/\D/g, '');
  return [`+33${digits.slice(1)}`, digits.replace(/(\d\d)(?=\d)/g, '$1 '), digits];
}

// ---- The time-stamping authority ----

/** `tests/peers/tsa/`: a fresh CA and TSA, and the HTTP front on a free port. */
export async function startTsa(dir) {
  const peers = path.join(REPO_ROOT, 'tests/peers/tsa');
  const tsaDir = path.join(dir, 'tsa');
  fs.mkdirSync(tsaDir, { recursive: true });
  await run(path.join(peers, 'make-ca.sh'), [tsaDir]);
  const proc = startProcess('python3', [path.join(peers, 'tsa_http.py'), tsaDir, '0'], { stderrFile: path.join(dir, 'tsa.stderr') });
  const line = await proc.waitForOutput(/^\d+\s*$/, { what: 'the TSA port' });
  const chain = path.join(dir, 'tsa-chain.pem');
  fs.writeFileSync(chain, Buffer.concat([fs.readFileSync(path.join(tsaDir, 'tsa.crt')), fs.readFileSync(path.join(tsaDir, 'ca.crt'))]));
  return { url: `http://127.0.0.1:${line.trim()}/`, chain, stop: () => stopChild(proc.child) };
}

// ---- The hub ----

/**
 * A hub's files before it starts: a temp dir, a free port and `vigie.toml`.
 * Seed it with `admin()` (the admin CLI works on the database directly),
 * then `start()`.
 */
export class Hub {
  static async create({ tsa } = {}) {
    const hub = new Hub();
    hub.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigie-browser-'));
    hub.port = await freePort();
    hub.url = `http://127.0.0.1:${hub.port}`;
    hub.tsa = tsa ? await startTsa(hub.dir) : null;
    hub.config = path.join(hub.dir, 'vigie.toml');
    const vault = hub.tsa ? `[vault]\ntsa_urls = [${JSON.stringify(hub.tsa.url)}]\ntsa_chain_pem = ${JSON.stringify(hub.tsa.chain)}\n` : '';
    fs.writeFileSync(
      hub.config,
      `[server]\nlisten = "127.0.0.1:${hub.port}"\npublic_url = "${hub.url}"\n` +
        `[store]\nsqlite_path = ${JSON.stringify(path.join(hub.dir, 'vigie.db'))}\n` +
        vault +
        `[[gateways]]\nkind = "log"\nname = "phones"\n`,
    );
    hub.stdoutFile = path.join(hub.dir, 'hub.stdout');
    hub.stderrFile = path.join(hub.dir, 'hub.stderr');
    hub.others = [];
    return hub;
  }

  /** `vigie admin --config F [--json] ARGS…`; with `json`, the parsed output. */
  async admin(args, { json = false, input } = {}) {
    const r = await vigie(['admin', '--config', this.config, ...(json ? ['--json'] : []), ...args], { input });
    return json ? JSON.parse(r.stdout) : r.stdout;
  }

  /** Import shops from CSV text (header included). */
  async importShops(csv) {
    const file = path.join(this.dir, `shops-${Date.now()}-${Math.random().toString(36).slice(2)}.csv`);
    fs.writeFileSync(file, csv);
    return this.admin(['shop', 'import', file]);
  }

  /** A console account; with `totp`, its base32 secret. */
  async addAccount({ username, name, role, password, shop, totp: withTotp = false }) {
    const args = ['account', 'add', '--username', username, '--name', name, '--role', role];
    if (shop) args.push('--shop', shop);
    if (withTotp) args.push('--with-totp');
    const out = await this.admin(args, { json: true, input: `${password}\n` });
    return out?.totp_secret ?? null;
  }

  /** A fresh one-time enrolment code for a shop. */
  async enrolmentCode(shop) {
    const out = (await this.admin(['code', 'new', '--shop', shop], { json: true }));
    return typeof out === 'string' ? out : out.code;
  }

  /** `vigie serve`, with debug logs; resolves once it listens. */
  async start() {
    this.proc = startProcess(VIGIE_BIN, ['serve', '--config', this.config], {
      env: { VIGIE_LOG: 'debug', RUST_LOG: 'debug', NO_COLOR: '1' },
      stdoutFile: this.stdoutFile,
      stderrFile: this.stderrFile,
    });
    await this.proc.waitForOutput(/listening on/, { what: '"listening on"' });
    return this;
  }

  /** The hub's logs so far (stderr). */
  logs() {
    return this.proc?.out.stderr ?? '';
  }

  /** The alarm's detail as `vigie admin alarm show` gives it. */
  alarm(id) {
    return this.admin(['alarm', 'show', id], { json: true });
  }

  /** A process started for this hub (agent, simulate), stopped with it. */
  adopt(proc) {
    this.others.push(proc);
    return proc;
  }

  async stop() {
    for (const p of this.others) await stopChild(p.child);
    if (this.proc) {
      await stopChild(this.proc.child, 'SIGINT');
      await this.proc.closed();
    }
    if (this.tsa) await this.tsa.stop();
  }

  /** Delete the hub's files (after a run that passed). */
  remove() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The answer link (`…/r/TOKEN`) in an SMS text, if any. */
export function answerLink(text) {
  return text.match(/https?:\/\/\S+\/r\/[A-Za-z0-9_-]+/)?.[0] ?? null;
}

// ---- The browser ----

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Sign in through the form; `code` (a function giving the TOTP code) when the account has a second factor. */
export async function signIn(page, hub, username, password, { code } = {}) {
  await page.goto(`${hub.url}/console/sign-in`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/console/sign-in')), page.click('form#sign-in [type=submit]')]);
  if (code) {
    await page.waitForURL(/\/console\/sign-in\/code$/);
    await page.fill('#code', await code(page));
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/console/sign-in')), page.click('form:has(#code) [type=submit]')]);
  }
}

/** Save a screenshot under target/browser-artefacts/; its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(ARTEFACTS_DIR, { recursive: true });
  const file = path.join(ARTEFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Run axe-core on the page; the violations of impact serious or critical. */
export async function axeViolations(page) {
  await page.addScriptTag({ path: AXE_PATH });
  const results = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Violations as lines a person can act on. */
export function describeViolations(violations) {
  return violations
    .map((v) => `- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${v.nodes.map((n) => `    ${n.target.join(' ')} — ${n.failureSummary?.split('\n').join(' ')}`).join('\n')}`)
    .join('\n');
}

// SMSC simulator for Vigie's SMPP gateway tests: an SMPP 3.4 server (npm
// `smpp`) plus a small JSON control server to inspect and steer it.
//
//   node smsc.js --port 0 --system-id vigie --password secret
//   → prints {"smpp_port":P,"control_port":C} once both listen on 127.0.0.1
//
// SMPP: checks the bind credentials, answers submit_sm with a fresh
// message_id and, when a receipt is requested, pushes a deliver_sm receipt
// from a separate task (never inside the submit handler).
// Control (HTTP, JSON): GET /messages[?since=N] (accepted submits, in
// order; from the N-th on), with at_ms the wall-clock time of the submit in
// milliseconds as a float (sub-millisecond, for latency benchmarks),
// POST /reply {from,to,text}, POST /config {throttle_per_s, undeliverable,
// reject, garbage_next, down, bad_after_bind, redeliver}, POST /drop
// (destroy every socket), POST /reset.
// Only accepted submits are recorded (not throttled, rejected or garbled
// ones), each with `pdu_hex`, its bytes as they came on the wire;
// garbage_next answers the next submit_sm with 16 random bytes.
//
// Inbound to the hub, written as raw PDUs (this simulator's own encoder):
// POST /flood {n, from, text} sends n deliver_sm replies `text-<i>` from
// `from` as fast as the socket takes them, with no window, like a hostile
// SMSC. GET /acked → {acked: [texts answered ESME_ROK], refused: {status:
// count}, unanswered: n}. With `redeliver`, every flood message not
// answered ESME_ROK is sent again after each bind. `bad_after_bind`
// ("malformed", "oversize" or "payload64k") sends that deliver_sm after
// every bind, as an SMSC redelivering a message it cannot get rid of.
// GET /binds → [{at_ms}], GET /answers → [{kind, status}] (deliver_sm_resp
// to the bad and 64 KiB deliver_sm). `down: true` destroys every socket and
// every new connection until `down: false` (recorded as `up_at_ms`).
'use strict';
const http = require('http');
const smpp = require('smpp');

// Keep short_message as raw bytes: this simulator decodes them itself, with
// the full GSM 03.38 table (the library's decoder is not what we test against).
smpp.filters.message.decode = (value) => value;
// Keep every PDU's bytes as they came on the wire (`raw_hex`): the hub's
// tests check submit_sm field by field against SMPP 3.4, not against a
// library's reading of it.
const { PDU } = require('smpp/lib/pdu');
const fromBuffer = PDU.prototype.fromBuffer;
PDU.prototype.fromBuffer = function (buffer) {
  Object.defineProperty(this, 'raw_hex', { value: buffer.toString('hex'), enumerable: false });
  return fromBuffer.call(this, buffer);
};

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const SYSTEM_ID = arg('--system-id', 'vigie');
const PASSWORD = arg('--password', 'secret');

// GSM 03.38 basic table (0x1B = escape) and extension table.
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = { 0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']', 0x40: '|', 0x65: '€' };
const BASIC = [...GSM_BASIC];

function decodeText(buf, dataCoding) {
  if ((dataCoding & 0x0f) === 0x08) {
    return Buffer.from(buf.subarray(0, buf.length & ~1)).swap16().toString('utf16le');
  }
  let out = '';
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x1b && i + 1 < buf.length) {
      i += 1;
      out += GSM_EXT[buf[i]] !== undefined ? GSM_EXT[buf[i]] : BASIC[buf[i] & 0x7f];
    } else {
      out += BASIC[buf[i] & 0x7f];
    }
  }
  return out;
}

// Unpacked GSM septets if every character fits, else UCS-2 big-endian.
function encodeText(text) {
  const bytes = [];
  for (const c of text) {
    const basic = BASIC.indexOf(c);
    const ext = Object.keys(GSM_EXT).find((k) => GSM_EXT[k] === c);
    if (basic >= 0 && c !== '\x1b') bytes.push(basic);
    else if (ext !== undefined) bytes.push(0x1b, Number(ext));
    else return { data_coding: 8, short_message: Buffer.from(text, 'utf16le').swap16() };
  }
  return { data_coding: 0, short_message: Buffer.from(bytes) };
}

const pad = (n) => String(n).padStart(2, '0');
const smppDate = (d) =>
  pad(d.getFullYear() % 100) + pad(d.getMonth() + 1) + pad(d.getDate()) + pad(d.getHours()) + pad(d.getMinutes());

let messages = [];
let nextId = 0;
let config = { throttle_per_s: null, undeliverable: [], reject: [], garbage_next: false,
  down: false, bad_after_bind: null, redeliver: false };
let binds = [];
let upAt = null;
// Raw deliver_sm we sent: sequence_number → {kind, text}; and their answers.
const RAW_SEQ_BASE = 0x40000000;
let rawSeq = RAW_SEQ_BASE;
const sentRaw = new Map();
let flood = []; // {text, from, status: null | command_status}
const answers = [];

const u8 = (n) => Buffer.from([n & 0xff]);
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const cstr = (s) => Buffer.concat([Buffer.from(s, 'latin1'), u8(0)]);
const tlv = (tag, value) => Buffer.concat([u16(tag), u16(value.length), value]);

// A deliver_sm per SMPP 3.4 §4.6.1, field by field. `smLength` lies about
// the short message's length when set (a malformed PDU).
function rawDeliver(seq, { from, to, esm = 0, dc = 0, sm = Buffer.alloc(0), tlvs = [], smLength }) {
  const body = Buffer.concat([
    cstr(''), u8(1), u8(1), cstr(from), u8(1), u8(1), cstr(to),
    u8(esm), u8(0), u8(0), cstr(''), cstr(''), u8(0), u8(0), u8(dc), u8(0),
    u8(smLength === undefined ? sm.length : smLength), sm, ...tlvs,
  ]);
  return Buffer.concat([u32(16 + body.length), u32(0x00000005), u32(0), u32(seq), body]);
}

function sendRaw(session, kind, text, fields) {
  const seq = ++rawSeq;
  sentRaw.set(seq, { kind, text });
  session.socket.write(rawDeliver(seq, fields));
  return seq;
}

function sendBad(session, kind) {
  const from = '33699999999', to = 'VIGIE';
  if (kind === 'malformed') {
    // sm_length says 200, the PDU ends after 5 octets.
    sendRaw(session, kind, null, { from, to, sm: Buffer.from('STOP!'), smLength: 200 });
  } else if (kind === 'oversize') {
    // Legal fields, ~100 KB of TLVs: above what the hub reads.
    sendRaw(session, kind, null, { from, to, tlvs: [
      tlv(0x0424, Buffer.alloc(65535, 0x41)), tlv(0x1400, Buffer.alloc(40000, 0x42))] });
  } else if (kind === 'payload64k') {
    // The largest legal message_payload: 65,535 octets of GSM 'a'.
    sendRaw(session, kind, null, { from, to, tlvs: [tlv(0x0424, Buffer.alloc(65535, 0x61))] });
  }
}

function sendFlood(session, i) {
  const m = flood[i];
  const coded = encodeText(m.text);
  sendRaw(session, 'flood', i, { from: m.from, to: 'VIGIE', dc: coded.data_coding, sm: coded.short_message });
}

let accepted = []; // Date.now() of recent accepted submits, for throttling
const sockets = new Set();
const bound = new Set();

const server = smpp.createServer({}, (session) => {
  if (config.down) return session.socket.destroy();
  sockets.add(session.socket);
  session.socket.on('close', () => { sockets.delete(session.socket); bound.delete(session); });
  session.on('error', () => session.destroy());
  session.on('deliver_sm_resp', (pdu) => {
    const sent = sentRaw.get(pdu.sequence_number);
    if (!sent) return;
    sentRaw.delete(pdu.sequence_number);
    if (sent.kind === 'flood') flood[sent.text].status = pdu.command_status;
    else answers.push({ kind: sent.kind, status: pdu.command_status });
  });
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== SYSTEM_ID || pdu.password !== PASSWORD) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      return session.close();
    }
    bound.add(session);
    binds.push({ at_ms: performance.timeOrigin + performance.now() });
    session.send(pdu.response({ system_id: 'VIGIE-SMSC' }));
    if (config.bad_after_bind) sendBad(session, config.bad_after_bind);
    if (config.redeliver) {
      flood.forEach((m, i) => { if (m.status !== 0) sendFlood(session, i); });
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('submit_sm', (pdu) => {
    const raw = pdu.raw_hex;
    if (!bound.has(session)) return session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
    if (config.garbage_next) {
      config.garbage_next = false;
      const junk = require('crypto').randomBytes(16);
      junk[0] = 0xff; // command_length ≥ 0xFF000000: past any client's PDU limit
      return session.socket.write(junk);
    }
    const to = pdu.destination_addr;
    if (config.reject.includes(to)) return session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
    const now = Date.now();
    // Only kept while throttling: filtering thousands per submit would slow a storm.
    if (config.throttle_per_s != null) {
      accepted = accepted.filter((t) => now - t < 1000);
      if (accepted.length >= config.throttle_per_s) {
        return session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      }
      accepted.push(now);
    }
    const at = performance.timeOrigin + performance.now();
    const id = (++nextId).toString(16).padStart(8, '0');
    messages.push({
      seq: messages.length + 1, at_ms: at, to, from: pdu.source_addr,
      text: decodeText(pdu.short_message, pdu.data_coding), data_coding: pdu.data_coding,
      message_id: id, registered_delivery: pdu.registered_delivery, pdu_hex: raw,
    });
    session.send(pdu.response({ message_id: id }));
    if (pdu.registered_delivery & 0x03) {
      setTimeout(() => {
        const ok = !config.undeliverable.includes(to);
        const d = smppDate(new Date(now));
        const text = `id:${id} sub:001 dlvrd:${ok ? '001' : '000'} submit date:${d} done date:${smppDate(new Date())} ` +
          `stat:${ok ? 'DELIVRD' : 'UNDELIV'} err:000 text:`;
        session.deliver_sm({
          source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: to,
          dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
          esm_class: 4, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
          receipted_message_id: id, message_state: ok ? 2 : 5,
        });
      }, 0);
    }
  });
});

const digits = (n) => String(n).replace(/^\+/, '');
const control = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    let input = {};
    try { input = body ? JSON.parse(body) : {}; } catch (e) { res.writeHead(400); return res.end('{"error":"bad json"}'); }
    let out = { ok: true };
    const [path, query] = req.url.split('?');
    const route = `${req.method} ${path}`;
    if (route === 'GET /messages') {
      const since = Number(new URLSearchParams(query || '').get('since')) || 0;
      out = since > 0 ? messages.slice(since) : messages;
    }
    else if (route === 'POST /reply') {
      const coded = encodeText(String(input.text));
      for (const s of bound) {
        s.deliver_sm({ source_addr_ton: 1, source_addr_npi: 1, source_addr: digits(input.from),
          dest_addr_ton: /^\+?\d+$/.test(input.to) ? 1 : 5, dest_addr_npi: 1, destination_addr: digits(input.to),
          esm_class: 0, ...coded });
      }
    } else if (route === 'POST /config') {
      for (const key of ['throttle_per_s', 'undeliverable', 'reject', 'garbage_next', 'down', 'bad_after_bind', 'redeliver']) {
        if (key in input) config[key] = key === 'undeliverable' || key === 'reject' ? input[key].map(digits) : input[key];
      }
      if ('down' in input) {
        if (input.down) for (const s of sockets) s.destroy();
        else upAt = performance.timeOrigin + performance.now();
      }
    } else if (route === 'POST /flood') {
      const first = flood.length;
      for (let i = 0; i < Number(input.n); i++) {
        flood.push({ text: `${input.text}-${first + i}`, from: digits(input.from), status: null });
      }
      const [session] = bound;
      if (session) for (let i = first; i < flood.length; i++) sendFlood(session, i);
    } else if (route === 'GET /acked') {
      const refused = {};
      let unanswered = 0;
      const acked = [];
      for (const m of flood) {
        if (m.status === 0) acked.push(m.text);
        else if (m.status === null) unanswered += 1;
        else refused[m.status] = (refused[m.status] || 0) + 1;
      }
      out = { acked, refused, unanswered };
    } else if (route === 'GET /binds') out = { binds, up_at_ms: upAt };
    else if (route === 'GET /answers') out = answers; else if (route === 'POST /drop') for (const s of sockets) s.destroy();
    else if (route === 'POST /reset') messages = [];
    else { res.writeHead(404); return res.end('{"error":"not found"}'); }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
});

server.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  control.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ smpp_port: server.address().port, control_port: control.address().port }));
  });
});

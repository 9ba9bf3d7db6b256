#!/usr/bin/env python3
"""GSM modem simulator for Vigie's tests: 3GPP TS 27.007 / 27.005 (AT commands,
SMS in PDU and text mode) on one end of a pty pair made by socat.

    socat -d -d pty,raw,echo=0,link=DIR/modem pty,raw,echo=0,link=DIR/host &
    python3 modem_sim.py DIR/modem --sent DIR/sent.jsonl --inbox DIR/inbox

The client opens DIR/host. Each SMS sent (AT+CMGS) is decoded and appended to
the --sent file as a JSON line {"to", "text", "pdu"}. A file DIR/inbox/*.json
{"from": ..., "text": ...} (write it elsewhere, then rename it in) becomes an
incoming SMS: stored at index n and announced with +CMTI: "SM",n.
Faults: --no-sim, --unregistered, --fail-send, --silent, --garbage and
--garbage-while FILE (garbage while FILE exists). Standard library only.
"""
import argparse, glob, json, os, random, select, sys, time

GSM = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
       0x3E: "]", 0x40: "|", 0x65: "€"}
SMSC = "+33609001390"
CLAC = "+CGMI,+CGMM,+CGMR,+CGSN,+CPIN,+CSQ,+CREG,+CMEE,+CMGF,+CMGS,+CMGR,+CMGD,+CMGL,+CNMI,+CPMS,+CSCA,+CSCS"
STAT_TEXT = ["REC UNREAD", "REC READ", "STO UNSENT", "STO SENT"]
INBOX_POLL_S = 0.05  # how often the inbox directory is looked at
assert len(GSM) == 128


def unpack(octets, count, skip_bits=0):
    bits = int.from_bytes(octets, "little") >> skip_bits
    return [(bits >> (7 * i)) & 0x7F for i in range(count)]


def pack(septets, fill_bits=0):
    bits = sum(s << (fill_bits + 7 * i) for i, s in enumerate(septets))
    return bits.to_bytes((fill_bits + 7 * len(septets) + 7) // 8, "little")


def gsm_decode(septets):
    out, it = [], iter(septets)
    for s in it:
        if s == 0x1B:
            code = next(it, None)
            out.append(" " if code is None else EXT.get(code, GSM[code]))
        else:
            out.append(GSM[s])
    return "".join(out)


def gsm_encode(text):
    rev = {v: k for k, v in EXT.items()}
    out = []
    for c in text:
        if c in GSM and c != "\x1b":
            out.append(GSM.index(c))
        elif c in rev:
            out += [0x1B, rev[c]]
        else:
            return None
    return out


def semi(digits):
    d = digits + ("F" if len(digits) % 2 else "")
    return bytes(int(d[i + 1] + d[i], 16) for i in range(0, len(d), 2))


def decode_submit(hexpdu):
    """(to, text) of an SMS-SUBMIT with its SMSC part (TS 23.040 §9.2.2.2)."""
    b = bytes.fromhex(hexpdu)
    i = b[0] + 1
    first, n, toa = b[i], b[i + 2], b[i + 3]
    digits = b[i + 4:i + 4 + (n + 1) // 2].hex()
    to = "".join(digits[k + 1] + digits[k] for k in range(0, len(digits), 2))[:n]
    to = ("+" if toa & 0x70 == 0x10 else "") + to
    i += 4 + (n + 1) // 2
    dcs = b[i + 1]
    i += 2 + {0x10: 1, 0x08: 7, 0x18: 7}.get(first & 0x18, 0)
    udl, ud = b[i], b[i + 1:]
    hdr = ud[0] + 1 if first & 0x40 else 0
    if dcs & 0x0C == 0x08:
        return to, ud[hdr:udl].decode("utf-16-be")
    hs = (hdr * 8 + 6) // 7
    return to, gsm_decode(unpack(ud, udl, 0)[hs:])


def encode_deliver(sender, text, when):
    """SMS-DELIVER hex with the SMSC part, and its TPDU length (TS 23.040 §9.2.2.1)."""
    smsc = semi(SMSC[1:])
    if sender.startswith("+") or sender.isdigit():
        digits = sender.lstrip("+")
        oa = bytes([len(digits), 0x91 if sender.startswith("+") else 0x81]) + semi(digits)
    else:
        sept = gsm_encode(sender)
        oa = bytes([(len(sept) * 7 + 3) // 4, 0xD0]) + pack(sept)
    sept = gsm_encode(text)
    if sept is not None:
        dcs, udl, ud = 0x00, len(sept), pack(sept)
    else:
        ud = text.encode("utf-16-be")
        dcs, udl = 0x08, len(ud)
    scts = semi(time.strftime("%y%m%d%H%M%S", when)) + b"\x00"
    tpdu = bytes([0x04]) + oa + bytes([0x00, dcs]) + scts + bytes([udl]) + ud
    return (bytes([len(smsc) + 1, 0x91]) + smsc + tpdu).hex().upper(), len(tpdu)


class Modem:
    def __init__(self, fd, args):
        self.fd, self.a = fd, args
        self.echo, self.cmee, self.cmgf, self.mr, self.cscs = True, 0, 0, 0, "IRA"
        self.buf, self.prompt, self.msgs = bytearray(), None, {}

    def out(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def reply(self, *lines, final="OK"):
        self.out("".join("\r\n%s\r\n" % l for l in lines) + "\r\n%s\r\n" % final)

    def cme(self, n):
        self.reply(final="+CME ERROR: %d" % n if self.cmee else "ERROR")

    def garbage(self):
        g = self.a.garbage or (self.a.garbage_while and os.path.exists(self.a.garbage_while))
        return bool(g)

    def feed(self, data):
        if self.a.silent:
            return
        if self.echo and not self.garbage():
            self.out(data)
        for b in data:
            if self.prompt is not None:
                if b in (0x1A, 0x1B):
                    body, self.buf = bytes(self.buf).strip(), bytearray()
                    kind, self.prompt = self.prompt, None
                    if b == 0x1B:
                        self.reply()  # ESC: sending cancelled
                    else:
                        self.submit(kind, body)
                else:
                    self.buf.append(b)
            elif b in b"\r\n":
                line, self.buf = self.buf.decode("latin-1").strip(), bytearray()
                if line:
                    self.command(line)
            else:
                self.buf.append(b)

    def submit(self, kind, body):
        try:
            if kind[0] == "pdu":
                to, text = decode_submit(body.decode("ascii"))
            elif self.cscs == "UCS2":
                to, text = kind[1], bytes.fromhex(body.decode("ascii")).decode("utf-16-be")
            else:
                to, text = kind[1], body.decode("utf-8", errors="replace")
        except (ValueError, IndexError, UnicodeDecodeError):
            return self.reply(final="+CMS ERROR: %d" % (304 if kind[0] == "pdu" else 305))
        if self.a.fail_send:
            return self.reply(final="+CMS ERROR: 500")
        with open(self.a.sent, "a", encoding="utf-8") as f:
            pdu = body.decode("ascii") if kind[0] == "pdu" else None
            f.write(json.dumps({"to": to, "text": text, "pdu": pdu},
                               ensure_ascii=False) + "\n")
        self.mr = (self.mr + 1) % 256
        self.reply("+CMGS: %d" % self.mr)

    def command(self, line):
        if self.garbage():
            junk = bytes(random.choice(range(256)) for _ in range(random.randint(8, 64)))
            return self.out(junk.translate(None, b"OKR>") + b"\r\n")
        up = line.upper()
        name, _, arg = up.partition("=")
        arg = line[len(name) + 1:] if _ else ""
        if up in ("AT", "ATZ", "AT&F") or name in ("AT+CNMI", "AT+CSMP", "AT+COPS", "AT+CREG", "AT+CLIP", "AT+CRC"):
            if up in ("ATZ", "AT&F"):
                self.echo, self.cmee = True, 0
            return self.reply()
        if up in ("ATE0", "ATE1", "ATE"):
            self.echo = up == "ATE1"
            return self.reply()
        if name == "AT+CSCS" and arg.strip('"') in ("IRA", "GSM", "UCS2"):
            self.cscs = arg.strip('"')
            return self.reply()
        if name == "AT+CMEE" and arg in ("0", "1", "2"):
            self.cmee = int(arg)
            return self.reply()
        info = {"AT+CSQ": "+CSQ: 20,99", "AT+CFUN?": "+CFUN: 1", "AT+CGMI": "Vigie",
                "AT+CGMM": "ModemSim", "AT+CGMR": "1.0", "AT+CGSN": "490154203237518",
                "AT+CSCA?": '+CSCA: "%s",145' % SMSC, "AT+CMGF?": "+CMGF: %d" % self.cmgf,
                "AT+CREG?": "+CREG: 0,%d" % (2 if self.a.unregistered else 1),
                "AT+CPMS=?": '+CPMS: ("SM"),("SM"),("SM")', "AT+CMEE?": "+CMEE: %d" % self.cmee,
                "AT+CSCS=?": '+CSCS: ("IRA","GSM","UCS2")', "AT+CSCS?": '+CSCS: "%s"' % self.cscs,
                "AT+CLAC": "+CLAC: " + CLAC}
        if up in info:
            return self.reply(info[up])
        if up == "AT+CPIN?":
            return self.cme(10) if self.a.no_sim else self.reply("+CPIN: READY")
        if name in ("AT+CPMS", "AT+CPMS?"):
            n = len(self.msgs)
            return self.reply("+CPMS: %d,30,%d,30,%d,30" % (n, n, n))
        if name == "AT+CMGF" and arg in ("0", "1"):
            self.cmgf = int(arg)
            return self.reply()
        if name == "AT+CMGS" and arg:
            if self.a.no_sim:
                return self.reply(final="+CMS ERROR: 310")
            self.prompt = ("pdu", arg) if self.cmgf == 0 else ("text", arg.strip('"'))
            return self.out("\r\n> ")
        if name in ("AT+CMGR", "AT+CMGD") and arg.split(",")[0].isdigit():
            n = int(arg.split(",")[0])
            if name == "AT+CMGD":
                if arg.endswith(",4"):
                    self.msgs.clear()
                self.msgs.pop(n, None)
                return self.reply()
            if n not in self.msgs:
                return self.reply(final="+CMS ERROR: 321")  # invalid memory index
            lines = self.render(n, "+CMGR")
            self.msgs[n][0] = 1
            return self.reply(*lines)
        if up == "AT+CMGL" or name == "AT+CMGL":
            want = arg.strip('"') or ("0" if self.cmgf == 0 else "REC UNREAD")
            want = int(want) if want.isdigit() else (4 if want == "ALL" else STAT_TEXT.index(want))
            sel = [n for n in sorted(self.msgs) if want == 4 or self.msgs[n][0] == want]
            lines = [l for n in sel for l in self.render(n, "+CMGL")]
            for n in sel:
                self.msgs[n][0] = 1
            return self.reply(*lines)
        self.reply(final="ERROR")

    def render(self, n, cmd):
        stat, sender, text, when = self.msgs[n]
        idx = "%d," % n if cmd == "+CMGL" else ""
        if self.cmgf == 0:
            pdu, length = encode_deliver(sender, text, when)
            return ["%s: %s%d,,%d" % (cmd, idx, stat, length), pdu]
        ts = time.strftime("%y/%m/%d,%H:%M:%S+00", when)
        return ['%s: %s"%s","%s",,"%s"' % (cmd, idx, STAT_TEXT[stat], sender, ts), text]

    def poll_inbox(self):
        if not self.a.inbox or self.prompt is not None:
            return
        for path in sorted(glob.glob(os.path.join(self.a.inbox, "*.json"))):
            with open(path, encoding="utf-8") as f:
                sms = json.load(f)
            os.remove(path)
            n = next(i for i in range(1, 1000) if i not in self.msgs)
            self.msgs[n] = [0, sms["from"], sms["text"], time.gmtime()]
            if not self.a.silent:
                self.out('\r\n+CMTI: "SM",%d\r\n' % n)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port")
    p.add_argument("--sent", required=True)
    p.add_argument("--inbox")
    p.add_argument("--ready", help="file created once the port is open")
    for flag in ("no-sim", "unregistered", "fail-send", "garbage", "silent"):
        p.add_argument("--" + flag, action="store_true")
    p.add_argument("--garbage-while", metavar="FILE")
    args = p.parse_args()
    fd = os.open(args.port, os.O_RDWR | os.O_NOCTTY)
    open(args.sent, "a").close()
    if args.ready:
        open(args.ready, "w").close()
    m = Modem(fd, args)
    while True:
        if select.select([fd], [], [], INBOX_POLL_S)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return  # the other end of the pty pair is gone
            if not data:
                return
            m.feed(data)
        m.poll_inbox()


if __name__ == "__main__":
    sys.exit(main())

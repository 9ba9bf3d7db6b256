#!/usr/bin/env python3
"""Writes the fuzz corpus seeds that are plain bytes: texts and PDUs from
the tests, the TSA fixtures, an Ogg Opus file from an independent encoder
(espeak-ng + opusenc, as the timeline tests do). The seeds that need the
product's code (a golden export, signed requests) come from fuzz/seeds.

Usage: fuzz/make_seeds.py [CORPUS_DIR]   (default fuzz/corpus)
"""
import os, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")
FIX = os.path.join(ROOT, "tests", "peers", "tsa", "fixtures")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(path):
    with open(os.path.join(FIX, path), "rb") as f:
        return f.read()


# SMS reply texts (crates/vigie-core/src/reply.rs).
for i, t in enumerate(["1", " 1 ", "1 k7p", "1K7P", "Oui.", "stop", "2 K 7 P", "K7P 1",
                       "3 indispo", "NON", "1 j'arrive dans 5 min", "STOP SMS", "ARRÊT",
                       "1 K7PX", "2 j'appelle le 17"]):
    put("reply", f"r{i:02}", t)

# GSM SOS pendants' SMS: every text of the corpus the core classifies
# (crates/vigie-core/tests/data/pendant-corpus.txt).
with open(os.path.join(ROOT, "crates", "vigie-core", "tests", "data", "pendant-corpus.txt"), encoding="utf-8") as f:
    texts = [line.split("|", 3)[3].strip().replace("\\n", "\n")
             for line in f if line.strip() and not line.startswith("#")]
for i, t in enumerate(texts):
    put("pendant", f"s{i:02}", t)

# Phone numbers (crates/vigie-core/src/phone.rs).
for i, t in enumerate(["+33612345678", "06 12 34 56 78", "0033612345678",
                       "+33 (0)6 12 34 56 78", "+4915112345678", "06.12.34.56.78",
                       "0612-34-56-78", "+1 202 555 0100"]):
    put("phone", f"p{i:02}", t)

# Opening hours (crates/vigie-core/src/supervision.rs tests).
for i, t in enumerate(["mo-sa 07:00-19:30; sa 07:00-12:00", "mo,tu 08:00-12:00,14:00-19:00",
                       "24/7", "", "lu-ve 06:30-20:00; di off", "su closed",
                       "mo-su 22:00-02:00"]):
    put("opening_hours", f"h{i:02}", t)

# SMS PDUs (crates/vigie-core/src/pdu.rs tests): as the modem's hex line,
# and as raw octets.
pdus = [
    "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    "07913306091093F0040B913316325476F80000621162101000401D4176594E2F83FE20F6A9004F8FCBF2749905529FC27279DA5E06",
    "07913306091093F0040B913316325476F80008621162101000481C0046006F007200EA0074002C00200072006500E70075002000E70061",
    "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
    "0001000B913316325476F800001D4176594E2F83FE20F6A9004F8FCBF2749905529FC27279DA5E06",
    "0001000B913316325476F8000002CF25",
]
for i, h in enumerate(pdus):
    put("sms_pdu", f"hex{i:02}", h)
    put("sms_pdu", f"raw{i:02}", bytes.fromhex(h))
put("sms_pdu", "text-gsm", "ALERTE Tabac du Port : répondez 1 j'arrive, 2 j'appelle le 17, 3 indispo")
put("sms_pdu", "text-ucs2", "Zoë 🚨 Ğ")

# AT answers (tests/peers/modem/modem_sim.py speaks the same), NUL between
# answers: init (AT, ATE0, CMEE, CMGF, CNMI), CPIN, CSQ, CREG with a +CMTI,
# CMGR, CMGD, CMGS prompt, CMGS result, then nothing (port closes).
ok = "\r\nOK\r\n"
deliver = pdus[1]
exchange = [ok, "ATE0\r\r\nOK\r\n", ok, ok, ok,
            "\r\n+CPIN: READY\r\n\r\nOK\r\n",
            "\r\n+CSQ: 18,99\r\n\r\nOK\r\n",
            "\r\n+CREG: 0,1\r\n\r\nOK\r\n\r\n+CMTI: \"SM\",3\r\n",
            f"\r\n+CMGR: 0,,{len(deliver)//2 - 8}\r\n{deliver}\r\n\r\nOK\r\n",
            ok, "\r\n> ", "\r\n+CMGS: 7\r\n\r\nOK\r\n", ok]
put("at_modem", "happy", "\0".join(exchange))
put("at_modem", "errors", "\0".join([ok, ok, ok, ok, "\r\n+CMS ERROR: 302\r\n",
                                       "\r\n+CME ERROR: 10\r\n", "\r\n+CSQ: 99,99\r\n\r\nOK\r\n",
                                       "\r\nRING\r\n\r\n+CLIP: \"+33612345678\",145\r\n\r\nERROR\r\n",
                                       "\r\n+CMTI: \"SM\",1\r\n\r\nOK\r\n"]))
put("at_modem", "garbage", "\0".join(["\xff\xfe garbage", "OK", "OK\r", "\r\nOK\r\n"] * 3))

# Device JSON bodies (docs/protocol/device-api.md).
uuid = "0192f0c3-0000-7000-8000-000000000002"
bodies = {
    "enroll": '{"code":"7KQ4-M2XD","public_key":"BHg=","version":"0.1.0"}',
    "enrolled": '{"device_id":"dev-0192","shop":{"name":"Tabac","address":"1 rue","commune":"Lyon"},"settings":{"heartbeat_interval_s":60,"double_press_window_ms":700,"long_press_ms":3000,"cancel_window_ms":60000,"direct_sms_delay_ms":5000},"direct_contacts":[{"name":"Marie Dupont","phone":"+33611223344","tier":1}]}',
    "raise": '{"alarm_id":"%s","pressed_at_ms":1795699920000,"sent_at_ms":1795699920040,"recording":false}' % uuid,
    "raise-direct": '{"alarm_id":"%s","pressed_at_ms":1795699920000,"sent_at_ms":1795699920040,"direct_sms":[{"phone":"+33611223344","sent_at_ms":1795699925000}],"test":true}' % uuid,
    "direct": '{"direct_sms":[{"phone":"06 11 22 33 44","sent_at_ms":1795699925000}]}',
    "receipt": '{"alarm_id":"%s","state":"open","code":"K7P","duplicate":false,"late_by_ms":null,"contacts_alerting":2,"durable":true}' % uuid,
    "cancel": '{"cancel_pressed_at_ms":1795699930000,"sent_at_ms":1795699930100}',
    "heartbeat": '{"sent_at_ms":1795699920000,"battery_pct":87,"on_mains":true,"signal_csq":18,"modem":"registered","free_storage_mb":900,"version":"0.1.0","outbox_depth":0,"uptime_s":86400,"clock_offset_ms":0}',
    "ack": '{"config_version":"3f9a0c1d2b4e5f60","server_time_ms":1795699920012}',
    "recording": '{"requested_at_ms":1795699920000}',
    "error": '{"code":"stale_signature","message":"created is 400 s old"}',
    "chunk": '{"record":"dmlnaWU=","audio":"T2dnUw=="}',
    "chunk-receipt": '{"recording_id":"%s","seq":3,"log_index":17,"duplicate":false}' % uuid,
}
for name, body in bodies.items():
    put("device_json", name, body)

# Shop list imports (crates/vigie-hub/src/region.rs tests).
header = "reference,name,address,insee,holder_name,holder_phone,opening_hours"
put("shop_csv", "lyon", f"{header}\nL1,Tabac des Terreaux,1 place des Terreaux,69123,Jo,0612345678,\n"
    "L2,Tabac de la Croix-Rousse,4 boulevard de la Croix-Rousse,69384,Jo,0612345678,\n")
put("shop_csv", "quoted", f"\ufeff{header}\r\nA1,Tabac du Centre,\"3, place de la Mairie\",63430,"
    "Jeanne Martin,06 12 34 56 78,mo-sa 07:00-19:00\r\nA2,X,1 rue,99999,Jo,0612345678,\n"
    "A3,\"Le \"\"Bon\"\" Tabac\",1 rue,63430,Jo,12,\n")
put("shop_csv", "lines", "A1,Tabac,\"3, place\",63430,Jeanne,0612345678,\n")

# SMPP PDUs from an SMSC (SMPP 3.4 §4): receipts, replies, answers.
def cstr(s):
    return s.encode() + b"\0"

def pdu(command_id, seq, body, status=0):
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body

def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value

def deliver_sm(source, esm, dcs, text, tlvs=b""):
    return (cstr("") + bytes([1, 1]) + cstr(source) + bytes([1, 1]) + cstr("VIGIE")
            + bytes([esm, 0, 0]) + cstr("") + cstr("") + bytes([0, 0, dcs, 0, len(text)])
            + text + tlvs)

receipt_text = b"id:abc123 sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 stat:DELIVRD err:000 text:"
put("smpp_pdu", "receipt", pdu(5, 1, deliver_sm("33612345678", 4, 0, receipt_text,
                                                 tlv(0x001E, cstr("abc123")) + tlv(0x0427, b"\x02"))))
put("smpp_pdu", "reply-gsm", pdu(5, 2, deliver_sm("+33612345678", 0, 0, b"1 K7P")))
put("smpp_pdu", "reply-ucs2", pdu(5, 3, deliver_sm("33612345678", 0, 8, "1 j'arrive é".encode("utf-16-be"))))
put("smpp_pdu", "reply-payload", pdu(5, 4, deliver_sm("33612345678", 0, 0, b"",
                                                      tlv(0x0424, b"2 j'appelle le 17" * 3))))
put("smpp_pdu", "answers", pdu(0x80000009, 1, cstr("SMSC") + tlv(0x0210, b"\x34"))
    + pdu(0x80000004, 2, cstr("msg-0001")) + pdu(0x80000004, 3, b"", status=0x58)
    + pdu(0x15, 4, b"") + pdu(0x80000015, 5, b"") + pdu(0x80000000, 6, b"", status=3)
    + pdu(6, 7, b""))

# RFC 3161 (tests/peers/tsa/fixtures): selector byte, then the input.
put("tsa_token", "reply-ec", b"\0" + fixture("ec/resp.tsr"))
put("tsa_token", "reply-rejected", b"\0" + fixture("ec/rejected.tsr"))
put("tsa_token", "token-ec", b"\1" + fixture("ec/token.der"))
put("tsa_token", "token-rsa", b"\1" + fixture("rsa/token.der"))
put("tsa_token", "token-noncritical", b"\1" + fixture("weak/token-noncritical.der"))
put("tsa_token", "chain-ec", b"\2" + fixture("ec/ca.crt"))
put("tsa_token", "chain-long", b"\2" + fixture("ec/tsa.crt") + fixture("ec/ca.crt"))
put("tsa_token", "checkpoint", b"\3" + fixture("checkpoint.txt"))
put("evidence_files", "tsa-chain-real.pem", b"\x08" + fixture("ec/tsa.crt") + fixture("ec/ca.crt"))

# DC-09 frames (crates/vigie-dc09/tests/fixtures, from siadc09 and pysiaalarm):
# selector byte 0 the frame as received, 1 the span inside an envelope, 2 a
# clear text the target encrypts itself, 3 a body on its own.
import json
DC09 = os.path.join(ROOT, "crates", "vigie-dc09", "tests", "fixtures")
for fixture_name in ["siadc09.json", "pysiaalarm.json", "negative.json"]:
    with open(os.path.join(DC09, fixture_name)) as f:
        vectors = json.load(f)
    for i, v in enumerate(vectors):
        frame = bytes.fromhex(v["frame_hex"])
        put("dc09_frame", f"{fixture_name[:-5]}-{i:02}", b"\0" + frame)
        if frame[:1] == b"\n" and frame[9:10] == b'"' and not v.get("key_hex"):
            put("dc09_frame", f"{fixture_name[:-5]}-span-{i:02}", b"\1" + frame[9:-1])
for i, clear in enumerate([b"0123456789abcdef|#AB12|1120 01 001]_21:33:14,12-01-2026",
                           b"00000000000]_21:33:14,12-01-2026",
                           b"|#AB12|Nri1/PA001][Vhttps://vigie.example/a/1]_21:33:14,12-01-2026"]):
    put("dc09_frame", f"clear-{i:02}", b"\2" + clear)
for i, body in enumerate([b"#1234|1120 01 015", b"3121 00 005", b"#AB12|Nri1/PA501",
                          b"#|Nri0/RP0000", b"Oti12:30/id5/ri2/HA001^Caisse^/ri3/QA002",
                          b"21:33:14,12-01-2026", b"00112233445566778899AABBCCDDEEFF"]):
    put("dc09_frame", f"body-{i:02}", b"\3" + body)

# Ogg Opus from an independent encoder, mono 16 kHz and stereo 48 kHz, short.
with tempfile.TemporaryDirectory() as tmp:
    wav = os.path.join(tmp, "s.wav")
    subprocess.run(["espeak-ng", "-v", "fr", "-w", wav, "Au secours"], check=True)
    for name, rate, ch in [("mono16k.opus", "16000", "1"), ("stereo48k.opus", "48000", "2")]:
        conv = os.path.join(tmp, "c.wav")
        subprocess.run(["sox", wav, "-r", rate, "-c", ch, conv, "trim", "0", "0.6"], check=True)
        out = os.path.join(tmp, name)
        subprocess.run(["opusenc", "--quiet", "--bitrate", "12", conv, out], check=True)
        with open(out, "rb") as f:
            put("ogg_opus", name, f.read())
print("seeds written under", CORPUS)

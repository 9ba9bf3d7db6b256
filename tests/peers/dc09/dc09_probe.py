"""Fault probe for a DC-09 receiver on loopback (siadc09 1.0.1 as an independent encoder).
Sends fresh / replayed / stale (-60 s) / future (+30 s) / unknown-code / qualifier-6 / periodic-test / NULL /
bad-CRC / two-frames-in-one-write / frame-split-across-writes, prints each reply and its latency.
Usage: dc09_probe.py PORT [AES_KEY_ASCII]     (receiver account AB12)

Copied from the shared peers (`peers/dc09_probe.py`) with three changes for
the tests: the time comes from DC09_NOW (the hub's manual clock, see
hubtime.py); each reply is printed whole, frame by frame, as
`LABEL -> TOKEN seq=N | TOKEN seq=N` (or `<timeout>`), TOKEN starred when
encrypted; a receive gathers
what arrives until the socket is quiet for a moment, so two ACKs sent in
two writes are both seen."""
import socket, sys, time, datetime
from siadc09 import message, account, util
from siadc09.xdata import Data
import hubtime
now = hubtime.install()
port = int(sys.argv[1]); key = sys.argv[2].encode() if len(sys.argv) > 2 else None
acct = account.Account(acct=0xAB12, key=key)
def frame(tok, data, seq, ts=None):
    m = message.EventMessage(acct, {"idtoken": tok, "data": Data(data) if data else None})
    return m.encode(seq=seq, timestamp=ts, encrypt=key is not None)
def recv_all(s, first_timeout, quiet=0.3):
    s.settimeout(first_timeout)
    try: a = s.recv(4096)
    except socket.timeout: return b""
    s.settimeout(quiet)
    while True:
        try: more = s.recv(4096)
        except socket.timeout: return a
        if not more: return a
        a += more
def txrx(s, b, label, timeout=3):
    t = time.perf_counter(); s.sendall(b)
    a = recv_all(s, timeout)
    dt = (time.perf_counter() - t) * 1000
    if not a:
        print(f"{label} -> <timeout> {dt:.1f} ms", flush=True); return
    parts = []
    for f in a.split(b"\r"):
        if not f: continue
        try: r = message.parse_frame(f + b"\r", keys=key); parts.append(f"{'*' if r.encrypted else ''}{r.idtoken} seq={r.seq}")
        except Exception as e: parts.append(f"unparsed({f!r}: {e})")
    print(f"{label} -> {' | '.join(parts)} {dt:.1f} ms", flush=True)
cid = lambda q: ("ADM-CID", b"#AB12|" + q)
with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
    txrx(s, frame(*cid(b"1120 01 001"), 1), "1120 fresh")
    txrx(s, frame(*cid(b"1120 01 001"), 1), "1120 same seq (replay)")
    txrx(s, frame(*cid(b"1120 01 001"), 2, now - datetime.timedelta(seconds=60)), "1120 ts -60 s")
    txrx(s, frame(*cid(b"1120 01 001"), 3, now + datetime.timedelta(seconds=30)), "1120 ts +30 s")
    txrx(s, frame(*cid(b"1999 01 001"), 4), "1999 unknown code")
    txrx(s, frame(*cid(b"6120 01 001"), 5), "6120 qualifier 6")
    txrx(s, frame(*cid(b"1602 00 000"), 6), "1602 periodic test")
    txrx(s, message.NullMessage(acct).encode(seq=7, encrypt=key is not None), "NULL")
    bad = bytearray(frame(*cid(b"1121 01 001"), 8)); bad[1] = ord("0") if bad[1] != ord("0") else ord("1")
    txrx(s, bytes(bad), "1121 bad CRC", timeout=1)
    txrx(s, frame(*cid(b"1121 01 001"), 9) + frame(*cid(b"1122 01 001"), 10), "two frames, one write")
    f = frame(*cid(b"1122 01 001"), 11); s.sendall(f[:20]); time.sleep(0.2)
    txrx(s, f[20:], "one frame, two writes")

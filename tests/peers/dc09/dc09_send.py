"""Independent DC-09 transmitter built on siadc09 (DC-09-2026 primitives): sends ADM-CID 1120/1121/1122 and
SIA-DCS PA over TCP (or UDP), waits for the receiver's ACK/NAK and decodes it.
Usage: dc09_send.py PORT [AES_KEY_ASCII]

Copied from the shared peers (`peers/dc09_send.py`) with changes for the
tests: the time comes from DC09_NOW (see hubtime.py); DC09_UDP=1 sends
each frame as a datagram; DC09_SEQ_START sets the first sequence number;
each answer is printed as `<< TOKEN seq=N`, TOKEN starred when the
answer was encrypted (siadc09 reports `ACK` for both)."""
import os, socket, sys
from siadc09 import message, account
from siadc09.xdata import Data
import hubtime
hubtime.install()
port = int(sys.argv[1]); key = sys.argv[2].encode() if len(sys.argv) > 2 else None
acct = account.Account(acct=0xAB12, key=key)
udp = os.environ.get("DC09_UDP") == "1"
first = int(os.environ.get("DC09_SEQ_START", "1"))
frames = [("ADM-CID", b"#AB12|1120 01 001"), ("ADM-CID", b"#AB12|1121 01 001"),
          ("ADM-CID", b"#AB12|1122 01 001"), ("SIA-DCS", b"#AB12|Nri1/PA001")]
if udp:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.connect(("127.0.0.1", port))
else:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
with s:
    for seq, (tok, data) in enumerate(frames, start=first):
        m = message.EventMessage(acct, {"idtoken": tok, "data": Data(data)})
        frame = m.encode(seq=seq, encrypt=key is not None)
        s.sendall(frame); print(">>", frame, flush=True)
        ans = s.recv(1024)
        rsp = message.parse_frame(ans, keys=key)
        print(f"<< {'*' if rsp.encrypted else ''}{rsp.idtoken} seq={rsp.seq}", flush=True)

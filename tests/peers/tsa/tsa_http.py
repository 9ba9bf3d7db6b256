#!/usr/bin/env python3
"""RFC 3161 over HTTP (RFC 3161 §3.4) in front of `openssl ts -reply`.

Usage: tsa_http.py DIR PORT   (DIR made by make-ca.sh; PORT 0 picks a free one)
Prints the bound port on stdout once it accepts connections.
TSA_FAKETIME=OFFSET (a `faketime -f` spec such as "-432000") runs each
`openssl ts -reply` under libfaketime, so tokens carry the test's own time.
"""
import http.server, os, subprocess, sys, tempfile

QUERY_BYTES_MAX = 64 * 1024  # a TimeStampReq is ~100 bytes; anything larger is refused
# openssl under libfaketime has failed once in a while on a loaded machine
# (as make-ca.sh has); a reply is made again before the query is refused.
REPLY_TRIES_MAX = 3
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tsa.cnf")
DIR = os.path.abspath(sys.argv[1])
FAKETIME = os.environ.get("TSA_FAKETIME")
WRAP = ["faketime", "-f", FAKETIME] if FAKETIME else []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if self.headers.get("Content-Type") != "application/timestamp-query" or not 0 < length <= QUERY_BYTES_MAX:
            return self.send_error(415 if length else 400)
        with tempfile.NamedTemporaryFile(dir=DIR, suffix=".tsq") as query:
            query.write(self.rfile.read(length))
            query.flush()
            for _ in range(REPLY_TRIES_MAX):
                reply = subprocess.run(WRAP + ["openssl", "ts", "-reply", "-config", CONFIG, "-queryfile", query.name],
                                       env=dict(os.environ, TSA_DIR=DIR), capture_output=True)
                if reply.returncode == 0:
                    break
                print("openssl ts -reply failed:", reply.returncode, reply.stderr.decode(errors="replace"),
                      file=sys.stderr, flush=True)
        if reply.returncode != 0:
            return self.send_error(500, reply.stderr.decode(errors="replace")[:200])
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply.stdout)))
        self.end_headers()
        self.wfile.write(reply.stdout)


server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

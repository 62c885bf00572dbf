#!/usr/bin/env python3
"""fake_agent.py PORT_FILE: a stand-in host agent serving one VM console, for the dashboard test.

GET /v1/vms/ID/console: the log (follow=0), or the log and then what is added to it, streamed
chunked for 20 s (as the real agent follows a running VM's console); POST appends
'input: BODY' to the log. Writes its port to PORT_FILE."""
import http.server
import sys
import threading
import time

LOG = bytearray(b"NIMBUS-CONSOLE-OK: fake guest console\r\nlogin: ")
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if "/console" not in self.path:
            self.send_error(404)
            return
        with LOCK:
            body = bytes(LOG)
        if "follow=0" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                with LOCK:
                    body = bytes(LOG[sent:])
                if body:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                    self.wfile.flush()
                    sent += len(body)
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        with LOCK:
            LOG.extend(b"input: " + data + b"\r\n")
        body = b'{"written": %d}' % len(data)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()

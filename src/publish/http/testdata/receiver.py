#!/usr/bin/env python3
"""A webhook receiver for Herald's HTTP publisher tests.

Records every request (method, path, headers, body, the status it was
answered with) as one JSON line in --log, flushed before the answer goes
out, and verifies nothing itself. Answers 200 unless a rule says otherwise.

A rule is {"path": SUBSTRING, "status": N, "times": COUNT, "headers": {...},
"body": TEXT, "delay_ms": MS}: the first rule whose path is a substring of the request's
path and whose times are not used up answers it ("times" absent: forever).
Rules come from --rules (a JSON list) and are replaced by a POST of a JSON
list to /__receiver/rules (not recorded). With --cert and --key it speaks
HTTPS (HTTP/1.1 only).
"""

import argparse
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RULES = []
LOG = None


def answer_for(path):
    with LOCK:
        for rule in RULES:
            if rule.get("path", "") not in path:
                continue
            times = rule.get("times")
            if times is not None:
                if times <= 0:
                    continue
                rule["times"] = times - 1
            return rule
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):
        pass

    def _read_body(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status, headers=None, body=b""):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):
        body = self._read_body()
        if self.path == "/__receiver/rules":
            global RULES
            with LOCK:
                RULES = json.loads(body.decode("utf-8"))
            self._reply(204)
            return
        rule = answer_for(self.path)
        status = rule["status"] if rule else 200
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body_base64": base64.b64encode(body).decode("ascii"),
            "status": status,
        }
        with LOCK:
            LOG.write(json.dumps(record) + "\n")
            LOG.flush()
        if rule and rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000.0)
        if rule:
            self._reply(status, rule.get("headers"), rule.get("body", "").encode("utf-8"))
        else:
            self._reply(200)

    do_PUT = do_POST


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--rules", default="[]")
    parser.add_argument("--cert", help="serve HTTPS with this PEM certificate")
    parser.add_argument("--key", help="the certificate's PEM key")
    args = parser.parse_args()
    global LOG, RULES
    RULES = json.loads(args.rules)
    LOG = open(args.log, "a", encoding="utf-8")
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256  # the default 5 drops connects
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

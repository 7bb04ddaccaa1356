#!/usr/bin/env python3
"""A static file server for benchmarks: threads, HTTP/1.1 keep-alive and
byte ranges (`python3 -m http.server` speaks HTTP/1.0, closing every
connection, and ignores `Range`). Usage: bench_http.py PORT DIR [LOG]

With LOG, the path of every GET is appended to that file, one a line (the
benchmark counts the objects a command downloaded)."""

import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


LOG_LOCK = threading.Lock()


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the body waits
    # for the client's (delayed, 40 ms) ACK of the headers: every request
    # would cost 40 ms whoever the client is. Real servers set TCP_NODELAY.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    log = None

    def do_GET(self):
        if self.log is not None:
            with LOG_LOCK:
                self.log.write(self.path + "\n")
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        start, end = 0, size
        rng = self.headers.get("Range")
        status = 200
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a or 0)
            end = min(int(b) + 1, size) if b else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


if __name__ == "__main__":
    if len(sys.argv) > 3:
        Handler.log = open(sys.argv[3], "a", buffering=1)
    os.chdir(sys.argv[2])
    ThreadingHTTPServer.daemon_threads = True
    # socketserver's listen backlog is 5: a client opening 8 connections at
    # once (curl --parallel, or us) overflows it, and each dropped SYN costs
    # that connection a 1 s retransmission timeout, whoever the client is.
    # Real servers listen with a backlog of hundreds (nginx: 511).
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

"""The kubelet HTTPS endpoint the API server proxies `kubectl logs` to.

GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps&tailLines&
limitBytes&sinceSeconds&sinceTime&stream, plus /healthz. Client certificates signed by
the cluster CA are required (the API server presents --kubelet-client-certificate).
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .container import Container, parse_records, read_log
from .kube import log, parse_time


class _Closed(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    agent = None  # set by serve()

    def log_message(self, fmt, *args):  # quiet: the API server polls us
        pass

    def reply(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self.reply(200, "ok")
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self.reply(404, "not found")
        _, ns, pod, name = parts
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        w = self.agent.pods.find(ns, pod)
        c = w.container(name) if w else None
        if c is None:
            return self.reply(404, f'container "{name}" in pod "{pod}" not found on this node')
        previous = q.get("previous") in ("true", "1")
        run = c.restarts - 1 if previous else c.restarts
        if previous and run < 0:
            return self.reply(400, f'previous terminated container "{name}" in pod "{pod}" not found')
        if not previous and "waiting" in c.state and not c.log_path(run).exists():
            reason = c.state["waiting"].get("reason", "")
            return self.reply(400, f'container "{name}" in pod "{pod}" is waiting to start: {reason}')
        try:
            self.stream(c, run, q, follow=q.get("follow") in ("true", "1") and not previous)
        except (_Closed, OSError):
            pass

    def stream(self, c: Container, run: int, q: dict, follow: bool) -> None:
        since = None
        if "sinceSeconds" in q:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(q["sinceSeconds"]))
        elif "sinceTime" in q:
            since = parse_time(q["sinceTime"])
        stream = q.get("stream", "All").lower()
        stamps = q.get("timestamps") in ("true", "1")
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
        tail = int(q["tailLines"]) if "tailLines" in q else None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        sent = 0

        def emit(records) -> None:
            nonlocal sent
            for ts, st, text in records:
                if stream != "all" and st != stream:
                    continue
                if since is not None and parse_time(ts) < since:
                    continue
                out = (ts.encode() + b" " + text) if stamps else text
                if limit is not None:
                    out = out[: limit - sent]
                self.wfile.write(out)
                sent += len(out)
                if limit is not None and sent >= limit:
                    raise _Closed()
            self.wfile.flush()

        path = c.log_path(run)
        emit(read_log(path, tail))
        if not follow:
            return
        offset = path.stat().st_size if path.exists() else 0
        while True:
            done = run != c.restarts or not c.running
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                chunk = b""
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            if complete:
                emit(parse_records(complete.splitlines()))
            if done:
                return
            time.sleep(0.2)


def serve(agent, port: int, cert: str, key: str, client_ca: str) -> ThreadingHTTPServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    Handler.agent = agent
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    # Handshake lazily in each request thread, so a slow client cannot block accept().
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=httpd.serve_forever, name="logserver", daemon=True).start()
    log.info("serving kubelet API on https://127.0.0.1:%d", port)
    return httpd

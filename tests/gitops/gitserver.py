"""A git server on loopback: Debian's `git http-backend` (smart HTTP, fetch and push) behind Python's HTTP server.

Flux's source-controller only speaks http(s) and ssh, so `git daemon` would not do; fluxcd/pkg/gittestserver
is a Go library (one more build). `git http-backend` is the CGI program git's own docs put behind a web
server; this module is that web server, in a thread of the test process:

    with GitServer(root) as git:
        git.create("flows")            # a bare repository, pushable
        url = git.url("flows")         # http://127.0.0.1:PORT/flows.git
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BACKEND = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                              check=True).stdout.strip()) / "git-http-backend"


class _Handler(BaseHTTPRequestHandler):
    server: Any  # _Server

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # git push of a large pack
            out = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return bytes(out)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(self.server.root),
               "GIT_HTTP_EXPORT_ALL": "1", "REMOTE_USER": "kflow-test", "REMOTE_ADDR": self.client_address[0],
               "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "SERVER_PROTOCOL": "HTTP/1.0"}
        for header in ("Content-Encoding", "Git-Protocol"):  # gzip'ed requests, protocol v2
            if self.headers.get(header):
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        body = self._body() if self.command == "POST" else b""
        env["CONTENT_LENGTH"] = str(len(body))
        proc = subprocess.run([str(BACKEND)], input=body, env=env, capture_output=True, timeout=120)
        sep = b"\r\n\r\n" if b"\r\n\r\n" in proc.stdout else b"\n\n"
        head, _, payload = proc.stdout.partition(sep)
        headers = [line.split(":", 1) for line in head.decode("latin-1").splitlines() if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if proc.returncode != 0:
            self.log_error("git http-backend: %s", proc.stderr.decode(errors="replace")[-500:])

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} {format % args}\n")
            self.server.log.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    log: Any


class GitServer:
    def __init__(self, root: Path, log_path: Path | None = None):
        self.root = root
        self.log_path = log_path
        self.httpd: _Server | None = None

    def __enter__(self) -> GitServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.root = self.root
        self.httpd.log = open(self.log_path, "a") if self.log_path else None
        threading.Thread(target=self.httpd.serve_forever, name="gitserver", daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            if self.httpd.log:
                self.httpd.log.close()

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def create(self, name: str) -> Path:
        """A fresh bare repository (pushes allowed; default branch main)."""
        repo = self.root / f"{name}.git"
        shutil.rmtree(repo, ignore_errors=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
        subprocess.run(["git", "-C", str(repo), "config", "http.receivepack", "true"], check=True)
        return repo

"""Kubernetes API helpers shared by the node agent's threads."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import urlencode

import urllib3

log = logging.getLogger("nodeagent")

MERGE = "application/merge-patch+json"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


class ApiError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class Kube:
    """Minimal JSON client over urllib3 with the admin client certificate.

    Deliberately not the `kubernetes` package: its ApiClient internals changed
    between releases, and plain dicts (camelCase, as on the wire) are all we need.
    """

    def __init__(self, server: str, ca: str, cert: str, key: str):
        self.server = server.rstrip("/")
        # One pod worker thread per pod shares this pool.
        self.http = urllib3.PoolManager(maxsize=32, ca_certs=ca, cert_file=cert, key_file=key,
                                        cert_reqs="CERT_REQUIRED", retries=False)

    def _url(self, path: str, query: dict) -> str:
        return self.server + path + ("?" + urlencode(query) if query else "")

    def raw(self, method: str, path: str, body=None, content_type: str = "application/json", **query):
        r = self.http.request(
            method, self._url(path, query), body=None if body is None else json.dumps(body),
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=urllib3.Timeout(connect=10, read=60),
        )
        if r.status >= 400:
            try:
                reason = json.loads(r.data).get("message") or r.reason
            except ValueError:
                reason = r.data.decode(errors="replace") or r.reason
            raise ApiError(r.status, reason)
        return json.loads(r.data) if r.data else None

    def get(self, path: str):
        """GET returning None on 404."""
        try:
            return self.raw("GET", path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def patch_pod_status(self, ns: str, name: str, status: dict) -> None:
        try:
            self.raw("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": status}, MERGE)
        except ApiError as e:
            if e.status != 404:  # pod already gone: nothing to report
                raise

    def watch(self, path: str, rv: str, timeout: int = 60, **query):
        """Yield watch events (dicts) from `rv` until the server closes the stream."""
        q = dict(query, watch="true", resourceVersion=rv, timeoutSeconds=str(timeout),
                 allowWatchBookmarks="true")
        r = self.http.request("GET", self._url(path, q), headers={"Accept": "application/json"},
                              preload_content=False, timeout=urllib3.Timeout(connect=10, read=timeout + 15))
        if r.status >= 400:
            raise ApiError(r.status, r.reason)
        buf = b""
        try:
            for chunk in r.read_chunked() if r.chunked else r.stream(4096):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            r.release_conn()


class Gone(Exception):
    """The watch's resourceVersion is too old: relist."""


def list_watch(kube: Kube, path: str, on_sync, on_event, stop, **query) -> None:
    """Informer-lite: LIST, hand all items to on_sync, then WATCH from there; relist on 410/errors."""
    while not stop.is_set():
        try:
            lst = kube.raw("GET", path, **query)
            on_sync(lst.get("items") or [])
            rv = lst["metadata"]["resourceVersion"]
            while not stop.is_set():
                for ev in kube.watch(path, rv, **query):
                    obj = ev.get("object") or {}
                    if ev["type"] == "ERROR":
                        raise Gone(obj.get("message"))
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if ev["type"] != "BOOKMARK":
                        on_event(ev["type"], obj)
                    if stop.is_set():
                        return
        except Gone:
            continue
        except Exception as e:
            log.warning("list/watch %s failed: %s; retrying", path, e)
            stop.wait(1)

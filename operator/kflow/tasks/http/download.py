"""io.kestra.plugin.core.http.Download: stream a URL (http, https or file) into internal storage."""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register

_CHUNK = 1 << 20


def _filename(url: str, headers: Message | None) -> str:
    if headers is not None:
        cd = headers.get("Content-Disposition") or ""
        m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", cd)
        if m:
            return Path(unquote(m.group(1))).name
    name = Path(unquote(urlparse(url).path)).name
    return name or "download"


@register("io.kestra.plugin.fs.http.Download")
class Download(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.http.Download"
    uri: str
    method: str = "GET"
    headers: dict[str, Any] | None = None
    body: str | None = None
    contentType: str | None = None
    formData: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    sslOptions: dict[str, Any] | None = None
    allowFailed: bool = False
    failOnEmptyResponse: bool = True
    saveAs: str | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        url = str(ctx.render(self.uri)).strip()
        parsed = urlparse(url)
        dest_dir = ctx.workdir / ".download"
        dest_dir.mkdir(exist_ok=True)
        if parsed.scheme == "file":
            outputs = self._file(ctx, parsed, dest_dir)
        elif parsed.scheme in ("http", "https"):
            outputs = self._http(ctx, url, dest_dir)
        else:
            raise TaskFailed(f"uri: unsupported scheme {parsed.scheme or '(none)'!r}; expected http, https "
                             "or file")
        if self.failOnEmptyResponse and outputs["length"] == 0:
            raise TaskFailed(f"No response from server or empty body for {url}")
        return outputs

    def _file(self, ctx: Any, parsed: Any, dest_dir: Path) -> dict[str, Any]:
        raw = unquote(parsed.path or parsed.netloc)
        # `file:data/x.json` (no slash) is relative to the flow file's folder.
        base = Path(ctx.env.get("KFLOW_FLOW_DIR") or os.getcwd())
        src = Path(raw) if raw.startswith("/") else base / raw
        if not src.is_file():
            raise TaskFailed(f"uri: file not found: {src}")
        name = self.saveAs or src.name
        target = dest_dir / name
        shutil.copyfile(src, target)
        size = target.stat().st_size
        uri = ctx.storage.put(ctx.task_id, ctx.task_run_id, target, move=True)
        return {"uri": uri, "code": 200, "length": size, "headers": {}}

    def _http(self, ctx: Any, url: str, dest_dir: Path) -> dict[str, Any]:
        headers = {str(k): str(v) for k, v in (ctx.render(self.headers) or {}).items()}
        data = str(ctx.render(self.body)).encode() if self.body is not None else None
        if self.contentType:
            headers.setdefault("Content-Type", str(ctx.render(self.contentType)))
        req = urllib.request.Request(url, data=data, method=self.method.upper(), headers=headers)
        timeout = float((self.options or {}).get("timeout", {}).get("readIdleTimeout", 0) or 300) \
            if isinstance((self.options or {}).get("timeout"), dict) else 300.0
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if not (self.allowFailed or (self.options or {}).get("allowFailed")):
                raise TaskFailed(f"Failed http request with response code '{exc.code}' for {url}") from None
            resp = exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TaskFailed(f"cannot download {url}: {reason}") from None
        with resp:
            name = self.saveAs or _filename(url, resp.headers)
            target = dest_dir / name
            length = 0
            with open(target, "wb") as out:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    length += len(chunk)
            code = resp.status
            hdrs = {k: [v] for k, v in resp.headers.items()}
        ctx.log("DEBUG", f"downloaded {length} bytes from {url}")
        uri = ctx.storage.put(ctx.task_id, ctx.task_run_id, target, move=True)
        return {"uri": uri, "code": code, "length": length, "headers": hdrs}

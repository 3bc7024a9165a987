"""The HTTP client Kestra's HTTP tasks share (`options` = Kestra's HttpConfiguration), on the standard
library: Request, the notification webhooks. Kept small: one request, one response in memory."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.model.common import Duration, Strict, is_template
from kflow.model.durations import parse_duration

MAX_CONTENT = 10 * 1024 * 1024  # Kestra's default maxContentLength


class Auth(Strict):
    type: Literal["BASIC", "BEARER", "DIGEST"] | str
    username: str | None = None
    password: str | None = None
    token: str | None = None


class Timeouts(Strict):
    connectTimeout: Duration | None = None
    readIdleTimeout: Duration | None = None


class Proxy(Strict):
    type: str | None = None
    address: str | None = None
    port: int | str | None = None
    username: str | None = None
    password: str | None = None


class HttpOptions(Strict):
    """Kestra's `options` (current and older spellings)."""

    auth: Auth | None = None
    timeout: Timeouts | None = None
    connectTimeout: Duration | None = None
    readTimeout: Duration | None = None
    readIdleTimeout: Duration | None = None
    connectionPoolIdleTimeout: Duration | None = None
    maxContentLength: int | None = Field(default=None, ge=1)
    followRedirects: bool = True
    allowFailed: bool = False
    allowedResponseCodes: list[int] | None = None
    defaultCharset: str = "UTF-8"
    proxy: Proxy | None = None
    ssl: dict[str, Any] | None = None
    basicAuthUser: str | None = None
    basicAuthPassword: str | None = None
    logs: list[str] | None = None


@dataclass
class Response:
    code: int
    headers: dict[str, list[str]]
    body: bytes
    url: str
    charset: str = "utf-8"
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.body.decode(self.charset, errors="replace")


def _seconds(value: str | None, ctx: Any) -> float | None:
    if not value:
        return None
    text = str(ctx.render(value)) if is_template(value) else value
    return parse_duration(text).total_seconds()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def multipart(fields: dict[str, Any], read_file: Any) -> tuple[bytes, str]:
    """multipart/form-data; a value that is a kestra:// URI (or {name, content}) is sent as a file."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f"--{boundary}\r\n".encode()
        filename, content = None, None
        if isinstance(value, dict) and "content" in value:
            filename, content = str(value.get("name") or name), value["content"]
        elif isinstance(value, str) and value.startswith("kestra://"):
            path = read_file(value)
            filename, content = path.name, path.read_bytes()
        if filename is not None:
            data = content if isinstance(content, bytes) else str(content).encode()
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode()
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def send(ctx: Any, url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
         body: bytes | None = None, options: HttpOptions | None = None, allow_failed: bool = False) -> Response:
    """Send one request; a status >= 400 (not in allowedResponseCodes) fails unless allowed."""
    opts = options or HttpOptions()
    hdrs = dict(headers or {})
    auth = opts.auth
    user = ctx.render(auth.username) if auth else ctx.render(opts.basicAuthUser)
    password = ctx.render(auth.password) if auth else ctx.render(opts.basicAuthPassword)
    if auth is not None and str(auth.type).upper() == "BEARER":
        hdrs.setdefault("Authorization", f"Bearer {ctx.render(auth.token)}")
    elif user is not None and (auth is None or str(auth.type).upper() in ("BASIC", "DIGEST")):
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        hdrs.setdefault("Authorization", f"Basic {token}")
    timeout = (_seconds((opts.timeout.readIdleTimeout if opts.timeout else None) or opts.readTimeout
                        or opts.readIdleTimeout, ctx) or 300.0)
    connect = _seconds((opts.timeout.connectTimeout if opts.timeout else None) or opts.connectTimeout, ctx)
    handlers: list[Any] = []
    if not opts.followRedirects:
        handlers.append(_NoRedirect())
    if opts.ssl and opts.ssl.get("insecureTrustAllCertificates"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))
    if opts.proxy and opts.proxy.address:
        proxy = f"http://{ctx.render(opts.proxy.address)}:{opts.proxy.port or 8080}"
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=body, method=method.upper(), headers=hdrs)
    limit = opts.maxContentLength or MAX_CONTENT
    try:
        # urllib has one timeout for connect and reads: the connect one, when given, applies to both.
        resp = opener.open(req, timeout=min(t for t in (connect, timeout) if t) if connect else timeout)
    except urllib.error.HTTPError as exc:
        resp = exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise TaskFailed(f"cannot reach {url}: {reason}") from None
    with resp:
        try:
            data = resp.read(limit + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise TaskFailed(f"reading the response of {url} failed: {exc}") from None
        if len(data) > limit:
            raise TaskFailed(f"the response of {url} is larger than maxContentLength ({limit} bytes)")
        headers_out: dict[str, list[str]] = {}
        for k, v in resp.headers.items():
            headers_out.setdefault(k, []).append(v)
        charset = resp.headers.get_content_charset() or opts.defaultCharset or "utf-8"
        code = resp.status if hasattr(resp, "status") else resp.code
    out = Response(code, headers_out, data, url, charset)
    allowed = opts.allowedResponseCodes
    ok = code in allowed if allowed else code < 400
    if not ok and not (allow_failed or opts.allowFailed):
        raise TaskFailed(f"Failed http request with response code '{code}' for {url}",
                         outputs={"code": code, "headers": headers_out, "body": out.text()[:4000]})
    return out


def urlencode(fields: dict[str, Any]) -> bytes:
    return urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in fields.items()}).encode()

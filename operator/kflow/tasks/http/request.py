"""io.kestra.plugin.core.http.Request: one HTTP call, the response in the task's outputs.

Outputs: `uri` (the request URL), `code`, `headers` (name -> list of values), `body` (a string; parse it
with `fromJson` / `jq`), `formData` when sent. A status >= 400 fails the task unless `allowFailed` (or
`options.allowFailed` / `options.allowedResponseCodes`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from kflow.errors import TaskFailed
from kflow.runner.storage import StorageError
from kflow.tasks.base import RunnableTask
from kflow.tasks.http.client import HttpOptions, multipart, send, urlencode
from kflow.tasks.registry import register

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"}


@register("io.kestra.plugin.fs.http.Request")
class Request(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.http.Request"
    isolate: ClassVar[bool] = False  # waits on a socket; the runner's thread is enough

    uri: str
    method: str = "GET"
    headers: dict[str, Any] | None = None
    body: Any = None
    formData: dict[str, Any] | None = None
    contentType: str | None = None
    options: HttpOptions | None = None
    sslOptions: dict[str, Any] | None = None
    allowFailed: bool = False
    encryptBody: bool = False

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if "{{" not in value and value.upper() not in METHODS:
            raise ValueError(f"expected one of {', '.join(sorted(METHODS))}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _body(self) -> Request:
        if self.body is not None and self.formData is not None:
            raise ValueError("body and formData cannot be used together")
        return self

    def _payload(self, ctx: Any) -> tuple[bytes | None, str | None, Any]:
        content_type = str(ctx.render(self.contentType)) if self.contentType else None
        if self.formData is not None:
            fields = ctx.render_value(self.formData)
            if content_type and content_type.startswith("multipart/form-data"):
                def read(uri: str) -> Any:
                    try:
                        return ctx.storage.resolve(uri)
                    except StorageError as exc:
                        raise TaskFailed(f"formData: {exc}") from None
                data, content_type = multipart(fields, read)
                return data, content_type, fields
            return urlencode(fields), content_type or "application/x-www-form-urlencoded", fields
        if self.body is None:
            return None, content_type, None
        body = ctx.render_value(self.body)
        if not isinstance(body, str):  # a YAML map or list: sent as JSON
            return json.dumps(body).encode(), content_type or "application/json", None
        return body.encode(), content_type or "application/json", None

    def run(self, ctx: Any) -> dict[str, Any]:
        url = str(ctx.render(self.uri)).strip()
        if not url.startswith(("http://", "https://")):
            raise TaskFailed(f"uri: expected an http:// or https:// URL, got {url!r}")
        headers = {str(k): str(v) for k, v in (ctx.render(self.headers) or {}).items()}
        data, content_type, form = self._payload(ctx)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        method = str(ctx.render(self.method)).upper()
        resp = send(ctx, url, method=method, headers=headers, body=data, options=self.options,
                    allow_failed=self.allowFailed)
        ctx.log("DEBUG", f"{method} {url} -> {resp.code}")
        out: dict[str, Any] = {"uri": url, "code": resp.code, "headers": resp.headers, "body": resp.text()}
        if form is not None:
            out["formData"] = form
        return out

"""Incoming-webhook notifications (`io.kestra.plugin.notifications.*`): a JSON POST to `url`.

Slack, Discord, Microsoft Teams and Google Chat share the shape: `url` (usually `{{ secret(...) }}`) and a
JSON `payload` string; Slack's newer `messageText` is sent as `{"text": ...}`. The URL is a credential
(the webhook's token is in its path): it never appears in logs or errors, only its host.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlparse

from pydantic import model_validator

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.http.client import HttpOptions, send
from kflow.tasks.registry import register


class IncomingWebhook(RunnableTask):
    isolate: ClassVar[bool] = False
    TEXT_KEY: ClassVar[str] = "text"

    url: str
    payload: Any = None
    options: HttpOptions | None = None

    @model_validator(mode="after")
    def _something_to_send(self) -> IncomingWebhook:
        if self.payload is None and getattr(self, "messageText", None) is None:
            raise ValueError("payload: required property is missing" +
                             (" (or messageText)" if "messageText" in type(self).model_fields else ""))
        return self

    def body(self, ctx: Any) -> bytes:
        if self.payload is None:
            return json.dumps({self.TEXT_KEY: str(ctx.render(getattr(self, "messageText", "")))}).encode()
        payload = ctx.render_value(self.payload)
        if isinstance(payload, str):
            try:
                json.loads(payload)
            except ValueError as exc:
                raise TaskFailed(f"payload: not valid JSON once rendered ({exc})") from None
            return payload.encode()
        return json.dumps(payload).encode()

    def run(self, ctx: Any) -> dict[str, Any]:
        url = str(ctx.render(self.url)).strip()
        host = urlparse(url).netloc or "(no host)"
        if not url.startswith(("http://", "https://")):
            raise TaskFailed(f"url: expected an http:// or https:// URL (host {host})")
        try:
            resp = send(ctx, url, method="POST", headers={"Content-Type": "application/json"},
                        body=self.body(ctx), options=self.options)
        except TaskFailed as exc:
            # The webhook URL carries its token: name the host only.
            raise TaskFailed(str(exc).replace(url, host)) from None
        ctx.log("INFO", f"notification sent to {host} (HTTP {resp.code})")
        return {"code": resp.code}


@register("io.kestra.plugin.slack.notifications.SlackIncomingWebhook")
class SlackIncomingWebhook(IncomingWebhook):
    TYPE: ClassVar[str] = "io.kestra.plugin.notifications.slack.SlackIncomingWebhook"
    messageText: str | None = None


@register()
class DiscordIncomingWebhook(IncomingWebhook):
    TYPE: ClassVar[str] = "io.kestra.plugin.notifications.discord.DiscordIncomingWebhook"
    TEXT_KEY: ClassVar[str] = "content"


@register()
class TeamsIncomingWebhook(IncomingWebhook):
    TYPE: ClassVar[str] = "io.kestra.plugin.notifications.teams.TeamsIncomingWebhook"


@register()
class GoogleChatIncomingWebhook(IncomingWebhook):
    TYPE: ClassVar[str] = "io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook"

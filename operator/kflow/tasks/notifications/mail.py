"""io.kestra.plugin.notifications.mail.MailSend: an email over SMTP (smtplib), attachments from storage."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, ClassVar, Literal

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.model.common import Strict
from kflow.runner.storage import StorageError
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register


class Attachment(Strict):
    name: str
    uri: str
    contentType: str | None = None


def _addresses(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(a).strip() for a in items if str(a).strip()]


@register("io.kestra.plugin.email.MailSend")
class MailSend(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.notifications.mail.MailSend"
    isolate: ClassVar[bool] = False

    host: str
    port: int | str = 25
    username: str | None = None
    password: str | None = None
    transportStrategy: Literal["SMTP", "SMTPS", "SMTP_TLS", "SMTP_OAUTH2"] = "SMTP"
    from_: str = Field(alias="from")
    to: str | list[str]
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    subject: str | None = None
    htmlTextContent: str | None = None
    plainTextContent: str | None = None
    attachments: list[Attachment] | str | None = None
    embeddedImages: list[Attachment] | str | None = None
    sessionTimeout: int = Field(default=10000, ge=1)  # milliseconds, as in Kestra

    def _message(self, ctx: Any) -> tuple[EmailMessage, list[str]]:
        msg = EmailMessage()
        msg["From"] = str(ctx.render(self.from_))
        to, cc, bcc = (_addresses(ctx.render_value(v)) for v in (self.to, self.cc, self.bcc))
        if not to:
            raise TaskFailed("to: at least one recipient is required")
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = str(ctx.render(self.subject or ""))
        plain = ctx.render(self.plainTextContent) if self.plainTextContent else None
        html = ctx.render(self.htmlTextContent) if self.htmlTextContent else None
        msg.set_content(str(plain if plain is not None else ""))
        if html is not None:
            msg.add_alternative(str(html), subtype="html")
        raw = ctx.render_value(self.attachments) if self.attachments is not None else []
        for i, item in enumerate(raw or []):
            att = item if isinstance(item, Attachment) else Attachment.model_validate(item)
            uri = str(ctx.render(att.uri))
            try:
                data = ctx.storage.resolve(uri).read_bytes()
            except StorageError as exc:
                raise TaskFailed(f"attachments[{i}].uri: {exc}") from None
            kind = att.contentType or mimetypes.guess_type(att.name)[0] or "application/octet-stream"
            main, _, sub = kind.partition("/")
            msg.add_attachment(data, maintype=main, subtype=sub or "octet-stream",
                               filename=str(ctx.render(att.name)))
        return msg, [*to, *cc, *bcc]

    def run(self, ctx: Any) -> dict[str, Any]:
        msg, recipients = self._message(ctx)
        host, port = str(ctx.render(self.host)), int(ctx.render(str(self.port)))
        timeout = self.sessionTimeout / 1000
        try:
            if self.transportStrategy == "SMTPS":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            with smtp:
                if self.transportStrategy == "SMTP_TLS":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(str(ctx.render(self.username)), str(ctx.render(self.password or "")))
                refused = smtp.send_message(msg, to_addrs=recipients)
        except (smtplib.SMTPException, OSError) as exc:
            raise TaskFailed(f"sending mail through {host}:{port} failed: {exc}") from None
        if refused:
            raise TaskFailed(f"recipients refused: {', '.join(sorted(refused))}")
        ctx.log("INFO", f"mail sent to {len(recipients)} recipient(s) through {host}:{port}")
        return {}

"""What every io.kestra.plugin.gcp task shares: credentials, project, endpoints, error messages.

Credentials come from `serviceAccount` (a service-account key as JSON text, usually
`{{ kv('GCP_CREDS') }}` or `{{ secret('GCP_SERVICE_ACCOUNT') }}`), else Application Default
Credentials, as with Kestra; `impersonatedServiceAccount` and `scopes` as Kestra's.

Endpoints: real Google unless `KFLOW_GCS_ENDPOINT` / `KFLOW_BIGQUERY_ENDPOINT` is set in the
environment of the process running the task (the local runner's, or the task pod's). Emulators do
not check tokens: with an endpoint override the key is still loaded and checked (a malformed one fails
the task), but requests go unauthenticated, so no token endpoint is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator

from kflow.errors import TaskFailed
from kflow.model.common import is_template
from kflow.tasks.base import RunnableTask
from kflow.tasks.postgresql.props import as_str, as_str_list

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GCS_ENDPOINT_ENV = "KFLOW_GCS_ENDPOINT"
BIGQUERY_ENDPOINT_ENV = "KFLOW_BIGQUERY_ENDPOINT"


def enum_of(*values: str) -> Any:
    """A string property holding one of `values`, or an expression checked when rendered."""

    def check(value: str) -> str:
        if not is_template(value) and value not in values:
            raise ValueError(f"must be one of {', '.join(values)}, got {value!r}")
        return value

    return Annotated[str, AfterValidator(check)]


def _bool(value: Any) -> Any:
    if isinstance(value, bool) or is_template(value):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"must be true, false or an expression, got {value!r}")


def _int(value: Any) -> Any:
    if (isinstance(value, int) and not isinstance(value, bool)) or is_template(value):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"must be an integer or an expression, got {value!r}")


# A boolean / integer property that also takes an expression (Kestra's Property<Boolean>, ...).
DynBool = Annotated[bool | str, BeforeValidator(_bool)]
DynInt = Annotated[int | str, BeforeValidator(_int)]


class GcpTask(RunnableTask):
    """Kestra's io.kestra.plugin.gcp.AbstractTask."""

    ENDPOINT_ENV: ClassVar[str] = ""
    projectId: str | None = None
    serviceAccount: str | None = None
    impersonatedServiceAccount: str | None = None
    scopes: list[str] | str | None = None

    def endpoint(self, ctx: Any) -> str | None:
        value = (ctx.env.get(self.ENDPOINT_ENV) or "").strip()
        return value.rstrip("/") or None

    def credentials(self, ctx: Any) -> tuple[Any, str | None]:
        """(credentials, project id found in them)."""
        import google.auth
        from google.auth import exceptions as auth_errors
        from google.auth.credentials import AnonymousCredentials

        scopes = as_str_list(ctx, self.scopes, "scopes") or [CLOUD_PLATFORM]
        text = as_str(ctx, self.serviceAccount, "serviceAccount")
        emulated = self.endpoint(ctx) is not None
        project = None
        try:
            if text and text.strip():
                try:
                    info = json.loads(text)
                except ValueError as exc:
                    # The message carries a position only, never the text (it is a secret).
                    raise TaskFailed(f"serviceAccount: not a JSON key file ({exc.msg} at char {exc.pos})") \
                        from None
                if not isinstance(info, dict):
                    raise TaskFailed("serviceAccount: not a JSON key file (expected a JSON object)")
                creds, project = google.auth.load_credentials_from_dict(info, scopes=scopes)
            elif emulated:
                return AnonymousCredentials(), None
            else:
                creds, project = google.auth.default(scopes=scopes)
        except auth_errors.GoogleAuthError as exc:
            # google-auth puts (message, cause) in args; a key's content is never part of them.
            raise TaskFailed(f"serviceAccount: {': '.join(str(a) for a in exc.args)}") from None
        except ValueError as exc:  # a key whose private key does not parse
            raise TaskFailed(f"serviceAccount: invalid key: {exc}") from None
        target = as_str(ctx, self.impersonatedServiceAccount, "impersonatedServiceAccount")
        if target:
            from google.auth import impersonated_credentials

            creds = impersonated_credentials.Credentials(source_credentials=creds, target_principal=target,
                                                         target_scopes=scopes)
        if emulated:
            return AnonymousCredentials(), project
        return creds, project

    def project(self, ctx: Any, found: str | None, *, required: bool = True) -> str | None:
        value = as_str(ctx, self.projectId, "projectId") or found
        if required and not value:
            raise TaskFailed("projectId: required (not set, and the credentials name no project)")
        return value


@contextmanager
def google_errors(what: str) -> Iterator[None]:
    """The service's own message in a one-line task failure; never a traceback, never a token."""
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    try:
        yield
    except TaskFailed:
        raise
    except api_errors.GoogleAPICallError as exc:
        raise TaskFailed(f"{what}: {api_message(exc)}") from None
    except auth_errors.GoogleAuthError as exc:
        raise TaskFailed(f"{what}: authentication failed: {exc}") from None
    except api_errors.RetryError as exc:
        cause = exc.cause if exc.cause is not None else exc
        raise TaskFailed(f"{what}: gave up retrying: {cause}") from None
    except (ConnectionError, OSError) as exc:
        raise TaskFailed(f"{what}: cannot reach the service: {exc}") from None
    except Exception as exc:
        import requests

        if isinstance(exc, requests.RequestException):
            raise TaskFailed(f"{what}: cannot reach the service: {exc}") from None
        raise


def api_message(exc: Any) -> str:
    """`404 Not found: Table p:d.t` plus the reasons of every error BigQuery listed."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    message = message.split("\n\nLocation:")[0].strip()
    # google-cloud-storage's upload errors carry the raw response: keep the service's own message.
    body = re.search(r"(\{.*\})", message, re.S)
    if body:
        try:
            message = json.loads(body.group(1))["error"]["message"]
        except (ValueError, KeyError, TypeError):
            pass
    details = []
    for err in getattr(exc, "errors", None) or []:
        if isinstance(err, dict) and err.get("message") and err["message"] not in message:
            details.append(err["message"])
    text = f"{int(code)} {message}" if code else message
    return text + (f" ({'; '.join(details)})" if details else "")


def split_gs(uri: str, name: str) -> tuple[str, str]:
    """gs://bucket/path → (bucket, path)."""
    if not uri.startswith("gs://"):
        raise TaskFailed(f"{name}: expected a gs://bucket/path URI, got {uri!r}")
    bucket, _, path = uri[len("gs://"):].partition("/")
    if not bucket:
        raise TaskFailed(f"{name}: no bucket in {uri!r}")
    return bucket, path

"""Connection properties shared by every PostgreSQL task, JDBC URL parsing and error scrubbing.

A JDBC URL `jdbc:postgresql://host[:port][,host2[:port]]/db?param=value&...` is mapped to libpq
keywords. pgjdbc parameters with a libpq equivalent are mapped (sslmode, sslrootcert, connectTimeout,
ApplicationName, currentSchema, options, targetServerType, tcpKeepAlive, ...); the rest is ignored
(listed in a debug log). Plain libpq URIs (`postgresql://...`) are accepted as well.

The password never reaches a log, an output or an error message: `Connector.scrub` removes it (and
any password given inside the URL) from every message that leaves this module.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import psycopg

from kflow.errors import TaskFailed
from kflow.tasks.base import RunContext, RunnableTask
from kflow.tasks.postgresql.props import as_bool, as_enum, as_int, as_str

SSL_MODES = ("DISABLE", "ALLOW", "PREFER", "REQUIRE", "VERIFY_CA", "VERIFY_FULL")
DEFAULT_CONNECT_TIMEOUT = 10  # seconds, pgjdbc's default


class PostgresConnection(RunnableTask):
    """Connection properties (Kestra's PostgresConnectionInterface); usually set through pluginDefaults."""

    url: str | None = None
    username: str | None = None
    password: str | None = None
    ssl: bool | str | None = None
    sslMode: str | None = None
    sslRootCert: str | None = None
    sslCert: str | None = None
    sslKey: str | None = None
    sslKeyPassword: str | None = None

    def connector(self, ctx: RunContext, *, time_zone: str | None = None,
                  socket_timeout: int | None = None) -> Connector:
        url = as_str(ctx, self.url, "url")
        if not url:
            raise TaskFailed("property 'url' is required: set it on the task or through pluginDefaults "
                             "(type: io.kestra.plugin.jdbc.postgresql)")
        password = as_str(ctx, self.password, "password")
        secrets = [p for p in (password, as_str(ctx, self.sslKeyPassword, "sslKeyPassword")) if p]
        try:
            params, ignored = parse_url(url)
        except ValueError as e:
            raise TaskFailed(scrub(str(e), secrets + _url_secrets(url))) from None
        secrets += _url_secrets(url)
        user = as_str(ctx, self.username, "username")
        if user:
            params["user"] = user
        if password is not None:
            params["password"] = password
        ssl = as_bool(ctx, self.ssl, "ssl")
        mode = as_enum(ctx, self.sslMode, "sslMode", SSL_MODES)
        if mode:
            params["sslmode"] = mode.lower().replace("_", "-")
        elif ssl is True and "sslmode" not in params:
            params["sslmode"] = "require"
        pem: dict[str, str] = {}
        for prop, key in (("sslRootCert", "sslrootcert"), ("sslCert", "sslcert"), ("sslKey", "sslkey")):
            value = as_str(ctx, getattr(self, prop), prop)
            if value:
                pem[key] = value
        key_password = as_str(ctx, self.sslKeyPassword, "sslKeyPassword")
        if key_password:
            params["sslpassword"] = key_password
        if time_zone:
            tz_option = f"-c TimeZone={_option_value(time_zone)}"
            params["options"] = (params.get("options", "") + " " + tz_option).strip()
        if socket_timeout:
            # pgjdbc's socketTimeout (seconds) ~ libpq's tcp_user_timeout (milliseconds).
            params["tcp_user_timeout"] = str(socket_timeout * 1000)
        params.setdefault("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT))
        params.setdefault("application_name", "kflow")
        if ignored:
            ctx.log("DEBUG", "JDBC URL parameters without a libpq equivalent, ignored: " + ", ".join(ignored))
        return Connector(params=params, pem=pem, secrets=secrets, workdir=ctx.workdir)


@dataclass
class Connector:
    params: dict[str, str]
    pem: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    workdir: Path | None = None

    def describe(self) -> str:
        hosts = self.params.get("host", "localhost")
        port = self.params.get("port", "5432")
        user = self.params.get("user", "(default user)")
        return f"{hosts}:{port}/{self.params.get('dbname', '')} as {user}"

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        params = dict(self.params)
        params.update(self._pem_files())
        try:
            return psycopg.connect(autocommit=autocommit, **params)
        except psycopg.Error as e:
            raise TaskFailed(f"could not connect to PostgreSQL at {self.describe()}: "
                             f"{self.scrub(error_text(e))}") from None

    def _pem_files(self) -> dict[str, str]:
        """Kestra passes certificates as PEM strings; libpq wants files. A value that is not PEM text
        but names an existing file is used as that path."""
        out: dict[str, str] = {}
        if not self.pem:
            return out
        base = Path(self.workdir) if self.workdir else Path(tempfile.gettempdir())
        folder = Path(tempfile.mkdtemp(prefix="pg-ssl-", dir=base if base.exists() else None))
        for key, value in self.pem.items():
            if "-----BEGIN" not in value and Path(value).is_file():
                out[key] = value
                continue
            path = folder / f"{key}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value if value.endswith("\n") else value + "\n")
            out[key] = str(path)
        return out


def error_text(e: BaseException) -> str:
    """The server's message (with DETAIL/HINT/CONTEXT lines when present), else the client's."""
    diag = getattr(e, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not primary:
        text = str(e).strip()
        return re.sub(r"\n\s*", " ", text)
    parts = [primary]
    for label, attr in (("DETAIL", "message_detail"), ("HINT", "message_hint"), ("CONTEXT", "context")):
        value = getattr(diag, attr, None)
        if value:
            parts.append(f"{label}: {' '.join(value.split())}")
    sqlstate = getattr(e, "sqlstate", None)
    if sqlstate:
        parts.append(f"(SQLSTATE {sqlstate})")
    return " ".join(parts)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, "******")
    # A DSN echoed by libpq (`password=...`) never leaks either.
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1******", text, flags=re.IGNORECASE)


def _url_secrets(url: str) -> list[str]:
    out = []
    for m in re.finditer(r"(?:[?&;](?:password|sslpassword)=)([^&;]*)", url, flags=re.IGNORECASE):
        out.append(unquote(m.group(1)))
    m = re.match(r"^(?:jdbc:)?postgres(?:ql)?://[^/@]*:([^/@]*)@", url)
    if m:
        out.append(unquote(m.group(1)))
    return [s for s in out if s]


def _option_value(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/:.]+", value):
        raise TaskFailed(f"property 'timeZoneId' is not a valid time zone: {value!r}")
    return value


# pgjdbc parameter (lower-cased) -> libpq keyword
_DIRECT = {
    "user": "user",
    "password": "password",
    "sslmode": "sslmode",
    "sslrootcert": "sslrootcert",
    "sslcert": "sslcert",
    "sslkey": "sslkey",
    "sslpassword": "sslpassword",
    "applicationname": "application_name",
    "application_name": "application_name",
    "options": "options",
    "gssencmode": "gssencmode",
    "channelbinding": "channel_binding",
    "channel_binding": "channel_binding",
    "connect_timeout": "connect_timeout",
    "target_session_attrs": "target_session_attrs",
    "sslcompression": "sslcompression",
    "krbsrvname": "krbsrvname",
    "service": "service",
}
_TARGET = {"any": "any", "master": "read-write", "primary": "read-write", "secondary": "standby",
           "standby": "standby", "preferstandby": "prefer-standby", "prefersecondary": "prefer-standby",
           "read-write": "read-write", "read-only": "read-only"}


def parse_url(url: str) -> tuple[dict[str, str], list[str]]:
    """JDBC (or libpq URI) → (libpq keyword params, names of ignored parameters)."""
    text = url.strip()
    m = re.match(r"^(?:jdbc:)?(postgresql|postgres):(.*)$", text, flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"property 'url' must look like jdbc:postgresql://host:port/database, got {text!r}")
    rest = m.group(2)
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    params: dict[str, str] = {}
    if rest.startswith("//"):
        rest = rest[2:]
        authority, _, path = rest.partition("/")
        if "@" in authority:
            userinfo, authority = authority.rsplit("@", 1)
            user, _, pw = userinfo.partition(":")
            if user:
                params["user"] = unquote(user)
            if pw:
                params["password"] = unquote(pw)
        hosts, ports = [], []
        for part in filter(None, authority.split(",")):
            if part.startswith("["):
                host, _, tail = part[1:].partition("]")
                port = tail[1:] if tail.startswith(":") else ""
            elif part.count(":") == 1:
                host, port = part.split(":")
            else:
                host, port = part, ""
            if port and not port.isdigit():
                raise ValueError(f"property 'url' has an invalid port {port!r}")
            hosts.append(unquote(host) or "localhost")
            ports.append(port or "5432")
        if hosts:
            params["host"] = ",".join(hosts)
            params["port"] = ",".join(ports)
        if path:
            params["dbname"] = unquote(path.rstrip("/"))
    elif rest and rest != "/":
        # jdbc:postgresql:database (local host, default port)
        params["host"] = "localhost"
        params["port"] = "5432"
        params["dbname"] = unquote(rest.lstrip("/"))
    ignored: list[str] = []
    for key, value in parse_qsl(query.replace(";", "&"), keep_blank_values=True):
        low = key.lower()
        if low in _DIRECT:
            params[_DIRECT[low]] = value
        elif low == "ssl":
            if value.lower() in ("", "true") and "sslmode" not in params:
                params["sslmode"] = "require"
            elif value.lower() == "false" and "sslmode" not in params:
                params["sslmode"] = "disable"
        elif low in ("connecttimeout", "logintimeout"):
            if value.isdigit() and int(value) > 0:
                params["connect_timeout"] = value
        elif low == "currentschema":
            if re.fullmatch(r"[A-Za-z0-9_$,\"]+", value):
                params["options"] = (params.get("options", "") + f" -c search_path={value}").strip()
            else:
                ignored.append(key)
        elif low == "targetservertype":
            if value.lower() in _TARGET:
                params["target_session_attrs"] = _TARGET[value.lower()]
        elif low == "tcpkeepalive":
            params["keepalives"] = "1" if value.lower() == "true" else "0"
        elif low == "sockettimeout":
            if value.isdigit() and int(value) > 0:
                params["tcp_user_timeout"] = str(int(value) * 1000)
        else:
            ignored.append(key)
    if params.get("sslmode"):
        params["sslmode"] = params["sslmode"].lower().replace("_", "-")
    return params, ignored


def close_quietly(conn: Any) -> None:
    if conn is not None:
        with suppress(Exception):
            conn.close()


def socket_timeout_of(ctx: RunContext, value: Any) -> int | None:
    return as_int(ctx, value, "socketTimeout", minimum=0)

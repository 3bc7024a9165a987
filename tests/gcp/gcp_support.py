"""Helpers of the GCP tests (a module of its own: `conftest` is not a unique module name)."""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"


def key_fragments(sa: dict[str, str]) -> list[str]:
    """Pieces of the key that must never show up in a log or an output."""
    body = "".join(line for line in sa["private_key"].splitlines() if "PRIVATE KEY" not in line)
    return [body[100:140], body[-80:-40], sa["private_key_id"]]


def kflow_cmd() -> list[str]:
    exe = shutil.which("kflow")
    return [exe] if exe else [sys.executable, "-m", "kflow.cli"]


def secret_env(value: str) -> str:
    """Kestra OSS secrets: SECRET_<NAME> holds the base64 of the value."""
    return base64.b64encode(value.encode()).decode()


def start_emulators() -> dict[str, str]:
    """Start the emulators when they are not running (cached build: seconds); their endpoints."""
    import subprocess

    res = subprocess.run([str(REPO / "scripts" / "gcp-emulators.sh"), "start"], capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    env = {}
    for line in res.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value
    assert {"KFLOW_GCS_ENDPOINT", "KFLOW_BIGQUERY_ENDPOINT"} <= set(env), res.stdout
    return env


def make_service_account() -> dict[str, str]:
    """A service-account key of its own (an RSA key made here), like the JSON file GCP hands out."""
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "kflow-test", "private_key_id": uuid.uuid4().hex,
            "private_key": pem, "client_email": "kflow-test@kflow-test.iam.gserviceaccount.com",
            "client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token"}


def clients(env: dict[str, str]):
    """Google's own clients on the emulators (to look at what flows wrote)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery, storage

    anon = AnonymousCredentials()
    return (storage.Client(project="kflow-test", credentials=anon,
                           client_options=ClientOptions(api_endpoint=env["KFLOW_GCS_ENDPOINT"])),
            bigquery.Client(project="kflow-test", credentials=anon,
                            client_options=ClientOptions(api_endpoint=env["KFLOW_BIGQUERY_ENDPOINT"])))

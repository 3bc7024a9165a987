"""Leader election on a coordination.k8s.io Lease, so that several operator replicas can run (chart
`replicaCount: 2`) while only one reconciles and schedules.

`KFLOW_LEADER_ELECTION=true` turns it on (the chart does), with the Lease `kflow-operator` (or
`KFLOW_LEADER_LEASE`) in the operator's namespace (`KFLOW_OPERATOR_NAMESPACE`); the holder's identity
is the pod name (`POD_NAME`, else the host name and pid). A standby answers its liveness probe and waits;
once it holds the Lease it starts kopf. The leader renews every RENEW_SECONDS; when it has not renewed for
STEP_DOWN_SECONDS (less than the Lease's duration) it stops kopf and exits (the kubelet restarts it as a
standby), so two leaders never run at once: a standby takes over only after the Lease has expired, at
most LEASE_SECONDS + RETRY_SECONDS after the leader's last renewal (SIGKILL); on a clean exit the leader
releases the Lease and the standby takes over within RETRY_SECONDS. Writes are optimistic: a replace
carries the resourceVersion it read, so of two standbys racing for an expired Lease one gets a 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("kflow.leader")
LEASE_SECONDS = 10
RENEW_SECONDS = 2.0
RETRY_SECONDS = 2.0
STEP_DOWN_SECONDS = 4.0  # + kopf stopping its drivers (<= 5 s) stays under LEASE_SECONDS


@dataclass(frozen=True)
class Holder:
    identity: str | None
    renewed: datetime | None
    duration: int
    transitions: int


def holder_of(lease: dict[str, Any] | None) -> Holder:
    spec = (lease or {}).get("spec") or {}
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    when = datetime.fromisoformat(renewed.replace("Z", "+00:00")) if isinstance(renewed, str) else renewed
    return Holder(spec.get("holderIdentity") or None, when, int(spec.get("leaseDurationSeconds") or LEASE_SECONDS),
                  int(spec.get("leaseTransitions") or 0))


def decide(holder: Holder, me: str, now: datetime) -> str:
    """"renew" (ours), "take" (free or expired) or "wait" (another live leader). Pure."""
    if holder.identity == me:
        return "renew"
    if holder.identity is None or holder.renewed is None:
        return "take"
    return "take" if now >= holder.renewed + timedelta(seconds=holder.duration) else "wait"


def lease_spec(holder: Holder, me: str, now: datetime, action: str) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec: dict[str, Any] = {"holderIdentity": me, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": stamp,
                            "leaseTransitions": holder.transitions + (1 if action == "take" else 0)}
    if action == "take":
        spec["acquireTime"] = stamp
    return spec


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class Elector:
    def __init__(self, api: Any, namespace: str, name: str, me: str):
        self.api, self.ns, self.name, self.me = api, namespace, name, me
        self.last_renewal: float | None = None

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease; True when we hold it now."""
        from kubernetes.client.rest import ApiException

        now = datetime.now(UTC)
        try:
            lease = await asyncio.to_thread(self.api.read_namespaced_lease, self.name, self.ns)
            body = self.api.api_client.sanitize_for_serialization(lease)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = None
        holder = holder_of(body)
        action = decide(holder, self.me, now)
        if action == "wait":
            return False
        spec = lease_spec(holder, self.me, now, action)
        try:
            if body is None:
                await asyncio.to_thread(self.api.create_namespaced_lease, self.ns, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.ns}, "spec": spec})
            else:
                body["spec"] = {**(body.get("spec") or {}), **spec}
                await asyncio.to_thread(self.api.replace_namespaced_lease, self.name, self.ns, body)
        except ApiException as exc:
            if exc.status == 409:  # another replica wrote first
                return False
            raise
        if action == "take":
            log.info("leader election: %s holds lease %s/%s", self.me, self.ns, self.name)
        return True

    async def acquire(self) -> None:
        while True:
            try:
                if await self._try():
                    self.last_renewal = asyncio.get_running_loop().time()
                    return
            except Exception as exc:  # the API server is away: keep waiting
                log.warning("leader election: %s", exc)
            await asyncio.sleep(RETRY_SECONDS)

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew until we cannot for STEP_DOWN_SECONDS (or another replica holds it): then set `lost`."""
        loop = asyncio.get_running_loop()
        while not lost.is_set():
            await asyncio.sleep(RENEW_SECONDS)
            try:
                if await self._try():
                    self.last_renewal = loop.time()
                    continue
                log.error("leader election: lease %s/%s taken by another replica", self.ns, self.name)
                lost.set()
            except Exception as exc:
                log.warning("leader election: renewal failed: %s", exc)
            if self.last_renewal is not None and loop.time() - self.last_renewal > STEP_DOWN_SECONDS:
                log.error("leader election: not renewed for %.0f s: stepping down", STEP_DOWN_SECONDS)
                lost.set()

    async def release(self) -> None:
        """On a clean exit: let a standby take over at once."""
        with contextlib.suppress(Exception):
            lease = await asyncio.to_thread(self.api.read_namespaced_lease, self.name, self.ns)
            body = self.api.api_client.sanitize_for_serialization(lease)
            if (body.get("spec") or {}).get("holderIdentity") == self.me:
                body["spec"]["holderIdentity"] = None
                await asyncio.to_thread(self.api.replace_namespaced_lease, self.name, self.ns, body)


async def standby_liveness(url: str | None) -> Any:
    """Answer the liveness probe while waiting for the Lease (kopf serves it once we lead)."""
    if not url:
        return None
    from urllib.parse import urlparse

    from aiohttp import web

    parsed = urlparse(url)

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.router.add_get(parsed.path or "/", alive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, parsed.hostname or "0.0.0.0", parsed.port or 80).start()
    return runner


async def run_elected(start_operator: Any, liveness: str | None) -> None:
    """Wait for the Lease, then run `start_operator(stop_flag)` while we hold it."""
    from kubernetes import client

    from kflow.k8s.kube import load_config

    load_config()
    namespace = os.environ.get("KFLOW_OPERATOR_NAMESPACE") or "default"
    elector = Elector(client.CoordinationV1Api(), namespace, os.environ.get("KFLOW_LEADER_LEASE") or
                      "kflow-operator", identity())
    server = await standby_liveness(liveness)
    log.info("leader election: %s waits for lease %s/%s", elector.me, namespace, elector.name)
    await elector.acquire()
    if server is not None:
        await server.cleanup()
    lost = asyncio.Event()
    keeper = asyncio.create_task(elector.keep(lost))
    try:
        await start_operator(lost)
    finally:
        keeper.cancel()
        if not lost.is_set():
            await elector.release()

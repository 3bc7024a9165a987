"""A thin async adapter over the Kubernetes API: retries, and 409 on create means 'already done'."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kflow.k8s import metrics
from kflow.k8s.models import GROUP, VERSION

log = logging.getLogger("kflow.kube")
T = TypeVar("T")
RETRYABLE = {429, 500, 502, 503, 504}


def load_config() -> None:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()


class Kube:
    def __init__(self, api_client: client.ApiClient | None = None, attempts: int = 8):
        self.api = api_client or client.ApiClient()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.attempts = attempts

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        delay = 0.1
        requests = metrics.API_REQUESTS
        operation = getattr(fn, "__name__", "call")
        for attempt in range(self.attempts):
            try:
                result = await asyncio.to_thread(fn, *args, **kwargs)
                requests.labels(operation, "ok").inc()
                return result
            except ApiException as exc:
                requests.labels(operation, str(exc.status)).inc()
                if exc.status not in RETRYABLE or attempt == self.attempts - 1:
                    raise
            except (OSError, client.exceptions.ApiException) as exc:  # connection refused, reset...
                requests.labels(operation, "error").inc()
                if attempt == self.attempts - 1:
                    raise
                log.warning("API call %s failed (%s), retrying", getattr(fn, "__name__", fn), exc)
            await asyncio.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _plain(self, obj: Any) -> dict[str, Any]:
        return obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)

    # ---- core objects
    async def create(self, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
        """(object, created). A 409 means it exists already: with deterministic names that is success."""
        ns = obj["metadata"]["namespace"]
        create = {"Pod": self.core.create_namespaced_pod,
                  "PersistentVolumeClaim": self.core.create_namespaced_persistent_volume_claim,
                  "ConfigMap": self.core.create_namespaced_config_map}[obj["kind"]]
        try:
            return self._plain(await self._call(create, ns, obj)), True
        except ApiException as exc:
            if exc.status == 409:
                return None, False
            raise

    async def get_pod(self, ns: str, name: str) -> dict[str, Any] | None:
        try:
            return self._plain(await self._call(self.core.read_namespaced_pod, name, ns))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def delete_pod(self, ns: str, name: str, grace: int | None = None) -> None:
        try:
            await self._call(self.core.delete_namespaced_pod, name, ns, grace_period_seconds=grace)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def delete_pvc(self, ns: str, name: str) -> None:
        try:
            await self._call(self.core.delete_namespaced_persistent_volume_claim, name, ns)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def pod_log(self, ns: str, name: str, container: str) -> str:
        try:
            return await self._call(self.core.read_namespaced_pod_log, name, ns, container=container)
        except ApiException as exc:
            if exc.status in (400, 404):
                return ""
            raise

    async def get_config_map(self, ns: str, name: str) -> dict[str, Any] | None:
        try:
            return self._plain(await self._call(self.core.read_namespaced_config_map, name, ns))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def secret_data(self, ns: str, name: str) -> dict[str, str] | None:
        """A Secret's entries as text (what a pod's environment gets); None when it does not exist."""
        import base64

        try:
            secret = await self._call(self.core.read_namespaced_secret, name, ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = {k: base64.b64decode(v or "").decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
        return {**data, **(secret.string_data or {})}

    async def patch_config_map(self, ns: str, name: str, data: dict[str, str]) -> None:
        await self._call(self.core.patch_namespaced_config_map, name, ns, {"data": data})

    async def list_config_maps(self, ns: str, selector: str) -> list[dict[str, Any]]:
        res = await self._call(self.core.list_namespaced_config_map, ns, label_selector=selector)
        return [self._plain(c) for c in res.items]

    async def list_pods(self, ns: str, selector: str) -> list[dict[str, Any]]:
        res = await self._call(self.core.list_namespaced_pod, ns, label_selector=selector)
        return [self._plain(p) for p in res.items]

    # ---- kflow resources
    async def get_custom(self, ns: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._call(self.custom.get_namespaced_custom_object, GROUP, VERSION, ns, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_status(self, ns: str, plural: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return await self._call(self.custom.patch_namespaced_custom_object_status, GROUP, VERSION, ns, plural,
                                name, {"status": status})

    async def patch_labels(self, ns: str, plural: str, name: str, labels: dict[str, str]) -> None:
        await self._call(self.custom.patch_namespaced_custom_object, GROUP, VERSION, ns, plural, name,
                         {"metadata": {"labels": labels}})

    async def create_custom(self, ns: str, plural: str, obj: dict[str, Any]) -> bool:
        """True if created; False if it existed already (409: with deterministic names, done)."""
        try:
            await self._call(self.custom.create_namespaced_custom_object, GROUP, VERSION, ns, plural, obj)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    async def list_custom(self, ns: str, plural: str, selector: str = "") -> list[dict[str, Any]]:
        res = await self._call(self.custom.list_namespaced_custom_object, GROUP, VERSION, ns, plural,
                               label_selector=selector)
        return list(res.get("items") or [])

    async def patch_custom(self, ns: str, plural: str, name: str, patch: dict[str, Any]) -> None:
        await self._call(self.custom.patch_namespaced_custom_object, GROUP, VERSION, ns, plural, name, patch)

    async def delete_custom(self, ns: str, plural: str, name: str) -> None:
        try:
            await self._call(self.custom.delete_namespaced_custom_object, GROUP, VERSION, ns, plural, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

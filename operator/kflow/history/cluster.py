"""The history read API (see the package docstring) over the cluster: Executions' status, the logs the
operator keeps past the pods (kflow.k8s.logstore) and running task pods' own logs. Synchronous, on the
kubeconfig like kubectl (`namespace`/`context` as -n / --context)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.engine.state import State
from kflow.history.records import ExecutionRecord, HistoryError, LogEntry

GROUP, VERSION, PLURAL = "kflow.dev", "v1alpha1", "executions"


def connect(namespace: str | None = None, context: str | None = None) -> tuple[Any, str]:
    """(ApiClient, namespace): the kubeconfig's (or the in-cluster) credentials; HistoryError when there is
    no usable configuration."""
    import urllib3
    from kubernetes import client, config

    urllib3.disable_warnings()
    cfg = client.Configuration()
    try:
        config.load_kube_config(context=context, client_configuration=cfg)
        contexts, current = config.list_kube_config_contexts()
        chosen = next((c for c in contexts if c["name"] == context), current) if context else current
        default_ns = (chosen or {}).get("context", {}).get("namespace") or "default"
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        if context is None:
            try:
                config.load_incluster_config(client_configuration=cfg)
                default_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
            except (config.ConfigException, OSError):
                raise HistoryError(f"no usable kubeconfig ({str(exc).splitlines()[0][:200]}): set KUBECONFIG "
                                   "or create ~/.kube/config") from None
        else:
            raise HistoryError(f"kubeconfig context {context!r}: {str(exc).splitlines()[0][:200]}") from None
    cfg.retries = 1
    return client.ApiClient(cfg), namespace or default_ns


def api_error(exc: Exception, what: str) -> HistoryError:
    """One line for an API failure: unreachable server, forbidden, not found."""
    from kubernetes.client.rest import ApiException

    if isinstance(exc, ApiException):
        reason = {401: "unauthorized", 403: "forbidden", 404: "not found"}.get(exc.status, exc.reason)
        detail = ""
        try:
            detail = json.loads(exc.body or "{}").get("message") or ""
        except (ValueError, AttributeError):
            pass
        return HistoryError(f"{what}: {reason}" + (f" ({detail})" if detail and exc.status != 404 else ""))
    return HistoryError(f"{what}: cannot reach the Kubernetes API server ({type(exc).__name__})")


def _call(fn: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    import urllib3
    from kubernetes.client.rest import ApiException

    try:
        return fn(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise api_error(exc, what) from None


class ClusterHistory:
    def __init__(self, api: Any, namespace: str):
        from kubernetes import client

        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    @classmethod
    def connect(cls, namespace: str | None = None, context: str | None = None) -> ClusterHistory:
        api, ns = connect(namespace, context)
        return cls(api, ns)

    # -- objects
    def execution_object(self, name: str) -> dict[str, Any]:
        return _call(self.custom.get_namespaced_custom_object, f"execution {self.namespace}/{name}",
                     GROUP, VERSION, self.namespace, PLURAL, name)

    def _record(self, obj: dict[str, Any]) -> ExecutionRecord:
        from kflow.k8s import snapshot

        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        outputs_of: dict[str, Any] = {}
        for ref in status.get("outputsRefs") or []:
            try:
                cm = self.core.read_namespaced_config_map(ref, self.namespace)
                outputs_of.update({k: json.loads(v) for k, v in (cm.data or {}).items()})
            except Exception:  # a missing chunk leaves those outputs out, the rest still shows
                continue
        flow_ns = (status.get("labels") or {}).get("system.namespace") or self.namespace
        ex = snapshot.execution_from_status(status, execution_id=meta["name"], namespace=flow_ns,
                                            flow_id=spec.get("flowRef", {}).get("name", ""),
                                            trigger=spec.get("trigger"), outputs_of=outputs_of)
        if ex.startDate is None and meta.get("creationTimestamp"):
            ex.startDate = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        restarts = sum(1 for h in status.get("histories") or [] if (h.get("reason") or "").startswith("restart ")
                       and "refused" not in (h.get("reason") or ""))
        return ExecutionRecord(execution=ex, source="cluster", raw_inputs=dict(spec.get("inputs") or {}),
                               live=not ex.state.terminal, attempt=1 + restarts, namespace_k8s=self.namespace,
                               meta={"object": obj})

    def get(self, execution_id: str) -> ExecutionRecord:
        return self._record(self.execution_object(execution_id))

    def list_executions(self, *, flow: str | None = None, namespace: str | None = None,
                        state: str | None = None, labels: dict[str, str] | None = None,
                        since: datetime | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        items = _call(self.custom.list_namespaced_custom_object, f"executions in {self.namespace}",
                      GROUP, VERSION, self.namespace, PLURAL).get("items") or []
        states = {s.strip().upper() for s in state.split(",")} if state else None
        out = []
        for obj in items:
            rec = self._record(obj)
            ex = rec.execution
            flow_ref = (obj.get("spec") or {}).get("flowRef", {}).get("name")
            if flow and flow not in (ex.flowId, flow_ref, f"{ex.namespace}.{ex.flowId}"):
                continue
            if namespace and not (ex.namespace == namespace or ex.namespace.startswith(namespace + ".")):
                continue
            if states and ex.state.value not in states:
                continue
            if labels and any(ex.labels.get(k) != v and (obj["metadata"].get("labels") or {}).get(k) != v
                              for k, v in labels.items()):
                continue
            if since and (ex.startDate is None or ex.startDate < since):
                continue
            out.append(rec)
        out.sort(key=lambda r: r.execution.startDate or datetime.min.replace(tzinfo=UTC), reverse=True)
        return out[:limit] if limit else out

    # -- logs
    def _kept(self, name: str) -> list[dict[str, Any]]:
        from kubernetes.client.rest import ApiException

        from kflow.k8s import logstore

        try:
            cm = self.core.read_namespaced_config_map(logstore.name_for(name), self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return []
            raise api_error(exc, f"logs of execution {name}") from None
        return logstore.read(cm.data or {})

    def logs(self, execution_id: str, *, task: str | None = None, follow: bool = False,
             offset: int = 0, poll: float = 1.0) -> Iterator[LogEntry]:
        """The lines the operator kept (offset = how many were read), then, with `follow`, new ones as they
        come until the execution ends."""
        while True:
            lines = self._kept(execution_id)
            for i, doc in enumerate(lines[offset:], start=offset + 1):
                if task is not None and task not in (doc.get("taskId"), doc.get("taskRunId")):
                    continue
                yield LogEntry(date=datetime.fromisoformat(doc["t"]), level=doc.get("level", "INFO"),
                               message=doc.get("message", ""), task_id=doc.get("taskId"),
                               task_run_id=doc.get("taskRunId"), attempt=doc.get("attempt"), offset=i)
            offset = max(offset, len(lines))
            if not follow:
                return
            state = State((self.execution_object(execution_id).get("status") or {}).get("state") or "CREATED")
            if state.terminal or state == State.PAUSED:
                follow = False  # one more read: the operator flushes its last lines with the final status
                continue
            time.sleep(poll)

    def resolve(self, execution_id: str, uri: str) -> Path:
        raise HistoryError(f"{uri}: the files of a cluster execution live in its volume, not on this machine")

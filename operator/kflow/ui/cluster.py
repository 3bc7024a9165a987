"""The cluster as a data source of the UI: Flows, Executions and CronTriggers read through the kubeconfig
(like kubectl), task logs from the task pods. Writes happen only through the action methods, which the
server calls only when started with --allow-actions. Keys in URLs are `<k8s namespace>/<resource name>`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from kflow.engine.machine import Engine
from kflow.errors import FlowInvalid, InputsInvalid
from kflow.expr import Renderer
from kflow.k8s import naming as kn
from kflow.k8s.kube import load_config
from kflow.k8s.models import GROUP, VERSION
from kflow.k8s.snapshot import execution_from_status
from kflow.model.flow import Flow, parse_flow
from kflow.ui import views
from kflow.ui.sources import ActionError, NotFound, log_lines


class ClusterSource:
    kind = "cluster"
    files = False  # stored files live on each execution's volume, out of the UI's reach

    def __init__(self, namespace: str | None = None, api_client: client.ApiClient | None = None):
        if api_client is None:
            load_config()  # in a pod (the chart's deployment): its service account; else the kubeconfig
            api_client = client.ApiClient()
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    # ---- reads ------------------------------------------------------------------------------------
    def _list(self, plural: str, selector: str | None = None) -> list[dict[str, Any]]:
        kw = {"label_selector": selector} if selector else {}
        if self.namespace:
            out = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, **kw)
        else:
            out = self.custom.list_cluster_custom_object(GROUP, VERSION, plural, **kw)
        return out.get("items") or []

    def _get(self, plural: str, key: str) -> dict[str, Any]:
        ns, _, name = key.partition("/")
        if self.namespace and ns != self.namespace:
            raise NotFound(f"{plural} {key}: outside namespace {self.namespace}")
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"{plural[:-1]} {key} not found") from None
            raise

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def _parse(self, obj: dict[str, Any]) -> tuple[Flow | None, FlowInvalid | None]:
        raw = dict(obj.get("spec") or {})
        raw.setdefault("id", obj["metadata"]["name"])
        raw.setdefault("namespace", obj["metadata"]["namespace"])
        try:
            return parse_flow(raw, f"Flow {obj['metadata']['name']}", "spec"), None
        except FlowInvalid as exc:
            return None, exc

    def _flow_doc(self, obj: dict[str, Any]) -> dict[str, Any]:
        flow, err = self._parse(obj)
        manifest = {"apiVersion": obj.get("apiVersion"), "kind": "Flow",
                    "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]},
                    "spec": obj.get("spec") or {}}
        status = obj.get("status") or {}
        return views.flow_doc(key=self._key(obj), name=obj["metadata"]["name"], flow=flow, error=err,
                              source=yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True),
                              extra={"operatorValid": status.get("valid")})

    def flows(self) -> list[dict[str, Any]]:
        return [self._flow_doc(o) for o in self._list("flows")]

    def flow(self, key: str) -> dict[str, Any]:
        return self._flow_doc(self._get("flows", key))

    def _doc(self, obj: dict[str, Any], outputs: bool) -> dict[str, Any]:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        outputs_of: dict[str, dict] = {}
        if outputs:
            for ref in status.get("outputsRefs") or []:
                try:
                    cm = self.core.read_namespaced_config_map(ref, meta["namespace"])
                except ApiException:
                    continue
                outputs_of.update({k: json.loads(v) for k, v in (cm.data or {}).items()})
        flow_name = spec.get("flowRef", {}).get("name", "")
        ex = execution_from_status(status, execution_id=meta["name"], namespace=meta["namespace"],
                                   flow_id=flow_name, trigger=spec.get("trigger"), outputs_of=outputs_of)
        previews = {tr["id"]: tr["preview"] for tr in status.get("taskRuns") or [] if tr.get("preview")}
        doc = views.execution_doc(ex, key=self._key(obj), extra={
            "flowKey": f"{meta['namespace']}/{flow_name}", "created": meta.get("creationTimestamp"),
            "message": status.get("message"), "k8sLabels": meta.get("labels") or {}})
        if not doc["startDate"]:
            doc["startDate"] = meta.get("creationTimestamp")
        for tr in doc["taskRuns"]:
            if tr["id"] in previews:
                tr["preview"] = views.table(previews[tr["id"]], False)
        if not doc["labels"]:
            doc["labels"] = spec.get("labels") or {}
        return doc

    def executions(self) -> list[dict[str, Any]]:
        docs = [views.execution_summary(self._doc(o, outputs=False)) for o in self._list("executions")]
        return sorted(docs, key=lambda d: d.get("startDate") or "", reverse=True)

    def execution(self, key: str) -> dict[str, Any]:
        return self._doc(self._get("executions", key), outputs=True)

    def logs(self, key: str, task_run_id: str | None = None) -> list[dict[str, Any]]:
        """Task pods' logs (the last attempt of each runnable task run), as {taskRunId, level, message}."""
        doc = self.execution(key)
        ns, _, name = key.partition("/")
        out: list[dict[str, Any]] = []
        for tr in doc["taskRuns"]:
            if (task_run_id and tr["id"] != task_run_id) or not tr["attempts"]:
                continue
            pod = kn.pod_name(name, tr["id"], len(tr["attempts"]))
            try:
                text = self.core.read_namespaced_pod_log(pod, ns, container="task")
            except ApiException:
                continue
            out.extend(log_lines(tr, text))
        return out

    def file(self, key: str, uri: str) -> Any:
        raise NotFound("stored files of cluster executions are on their volume: use `kubectl cp`")

    def triggers(self) -> list[dict[str, Any]]:
        return [self.trigger_doc(o) for o in self._list("crontriggers")]

    def trigger(self, key: str) -> dict[str, Any]:
        return self.trigger_doc(self._get("crontriggers", key))

    def trigger_doc(self, obj: dict[str, Any]) -> dict[str, Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return {"key": self._key(obj), "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                "flowKey": f"{obj['metadata']['namespace']}/{spec.get('flowRef', {}).get('name')}",
                "cron": spec.get("cron"), "timezone": spec.get("timezone") or "UTC",
                "suspend": bool(spec.get("suspend")), "backfillSpec": spec.get("backfill"),
                "lastScheduleTime": status.get("lastScheduleTime"), "nextScheduleTime": status.get("nextScheduleTime"),
                "active": status.get("active") or [], "backfill": status.get("backfill"),
                "conditions": status.get("conditions") or []}

    # ---- actions ----------------------------------------------------------------------------------
    def execute(self, flow_key: str, inputs: dict[str, Any], labels: dict[str, str]) -> str:
        obj = self._get("flows", flow_key)
        flow, err = self._parse(obj)
        if flow is None:
            raise ActionError("; ".join(err.lines()) if err else "invalid flow")
        try:  # the checks `kflow run` makes, so a bad input never becomes an Execution
            Engine(flow, Renderer(secrets={})).create_execution("check", inputs, datetime.now(UTC), labels)
        except InputsInvalid as exc:
            raise ActionError(f"inputs.{exc.input_id}: {exc}", field=exc.input_id) from None
        ns, _, name = flow_key.partition("/")
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
                "metadata": {"generateName": f"{kn.dns_label(name, 50)}-", "namespace": ns},
                "spec": {"flowRef": {"name": name}, "inputs": inputs, "labels": labels}}
        made = self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "executions", body)
        return f"{ns}/{made['metadata']['name']}"

    def kill(self, key: str) -> None:
        ns, _, name = key.partition("/")
        self._get("executions", key)
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "executions", name, {"spec": {"kill": True}})

    def _verb(self, verb: str, key: str, *extra: str) -> str:
        """restart / replay / resume: the CLI's own cluster verbs (`kflow <verb> NAME -n NS`), so the UI
        sets exactly the fields the CLI sets. Replay answers with the Execution it created."""
        import subprocess
        import sys

        ns, _, name = key.partition("/")
        self._get("executions", key)
        before = {o["metadata"]["name"] for o in self._list("executions")} if verb == "replay" else set()
        done = subprocess.run([sys.executable, "-m", "kflow.cli", verb, name, "-n", ns, *extra, "-q"],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise ActionError(lines[-1] if lines else f"kflow {verb} exited with {done.returncode}")
        if verb == "replay":
            made = [o for o in self._list("executions") if o["metadata"]["name"] not in before]
            if made:
                return self._key(max(made, key=lambda o: o["metadata"].get("creationTimestamp") or ""))
        return key

    def restart(self, key: str) -> str:
        return self._verb("restart", key)

    def resume(self, key: str) -> str:
        return self._verb("resume", key)

    def replay(self, key: str, task_run_id: str) -> str:
        return self._verb("replay", key, "--from", task_run_id)

    def backfill(self, key: str, request: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        from kflow.ui.backfill import cluster_backfill

        return cluster_backfill(self, key, request, dry_run)

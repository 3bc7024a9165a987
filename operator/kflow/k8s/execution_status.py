"""How the Execution driver writes what it knows: the status (outputs spilled to ConfigMaps past a size),
conditions, labels and Events. A mixin of `executions.Driver`, one concern a file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from kflow.engine.state import Execution, State
from kflow.k8s import lifecycle, metrics, resources, snapshot
from kflow.k8s import naming as n

PLURAL = "executions"
CHUNK_BYTES = 900 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


def masking(post_event: Any, driver: Any) -> Any:
    """`post_event` with its message masked by the driver's renderer (which knows the secrets)."""
    post = post_event or (lambda *a, **k: None)
    return lambda kind, reason, message: post(kind, reason, driver.renderer.mask(str(message)))


class StatusWriter:
    """Uses the driver's kube, ns, name, config, shared, logs, chunks, spilled, outputs_of, previews,
    waiting, last_status, labels_synced, flow_generation and post_event."""

    kube: Any
    ns: str
    name: str
    config: Any
    shared: Any
    logs: Any
    chunks: dict[str, int]
    spilled: dict[str, str]
    outputs_of: dict[str, dict[str, Any]]
    previews: dict[str, Any]
    waiting: dict[str, str]
    last_status: dict[str, Any] | None
    labels_synced: dict[str, str] | None
    flow_generation: int | None
    post_event: Any
    renderer: Any

    async def _load_spilled(self, status: dict[str, Any]) -> None:
        for ref in status.get("outputsRefs") or []:
            if ref in self.chunks:
                continue
            cm = await self.kube.get_config_map(self.ns, ref) or {}
            data = cm.get("data") or {}
            self.chunks[ref] = sum(len(v) for v in data.values())
            for run_id, text in data.items():
                self.outputs_of[run_id] = json.loads(text)
                self.spilled[run_id] = ref

    async def _spill(self, body: dict[str, Any], ex: Execution) -> dict[str, dict]:
        """Outputs past the inline budget into ConfigMaps: one write per ConfigMap per pass (a ForEach of
        2,000 engine tasks used to make 2,000 sequential patches), recorded once all writes went through."""
        inline, spill = snapshot.split_outputs(ex, set(self.spilled))
        chunks = dict(self.chunks)
        fresh: set[str] = set()
        batches: dict[str, dict[str, str]] = {}
        for run_id, outputs in spill.items():
            if run_id in self.spilled:
                continue
            text = json.dumps(outputs, separators=(",", ":"), default=str)
            ref = next((c for c, used in chunks.items() if used + len(text) < CHUNK_BYTES), None)
            if ref is None:
                ref = n.dns_label(f"{self.name}-outputs-{len(chunks)}")
                chunks[ref] = 0
                fresh.add(ref)
            batches.setdefault(ref, {})[run_id] = text
            chunks[ref] += len(text)
        for ref, data in batches.items():
            if ref in fresh:  # created with its first outputs (a 409: left by an earlier pass, patched)
                _, created = await self.kube.create(resources.config_map(body, ref, data, "outputs"))
                if created:
                    continue
            await self.kube.patch_config_map(self.ns, ref, data)
        self.chunks = chunks
        self.spilled.update({run_id: ref for ref, data in batches.items() for run_id in data})
        return inline

    async def _persist(self, body: dict[str, Any], ex: Execution, now: datetime) -> None:
        previous = self.last_status or body.get("status") or {}
        await self.logs.flush(self.kube, body, new=not previous.get("flowGeneration"))
        inline = await self._spill(body, ex)
        limited = ex.state in (State.CANCELLED, State.FAILED) and "concurrency limit" in (ex.error or "")
        reason = "ConcurrencyLimit" if limited else None
        for tr in previous.get("taskRuns") or []:
            if tr.get("preview") and tr["id"] not in self.previews:
                self.previews[tr["id"]] = tr["preview"]
        status = snapshot.execution_status(ex, execution_name=self.name, flow_generation=self.flow_generation,
                                           generation=body["metadata"].get("generation"), now=utcnow(),
                                           reason=reason, previous=previous, inline=inline,
                                           outputs_refs=sorted(self.chunks) or None)
        for item in status["taskRuns"]:
            if item["id"] in self.previews:
                item["preview"] = self.previews[item["id"]]
        waiting = {k: v for k, v in self.waiting.items() if ex.task_run(k) and ex.task_run(k).state == State.RUNNING}
        if waiting and not ex.state.terminal:  # why nothing moves, where `kubectl get`/`wait` users look
            status["message"] = "; ".join(f"task run {k} waiting: {v}" for k, v in sorted(waiting.items()))[:4000]
            for cond in status["conditions"]:
                cond["message"] = status["message"]
        if _same(status, previous):
            return
        self._events(previous, status)
        await self._sync_labels(ex)  # before the status, so a watcher of Completed sees the labels
        if ex.state.terminal and not State(previous.get("state") or "CREATED").terminal:
            await lifecycle.release_volume(self.kube, body.get("spec") or {}, self.ns, self.name, self.config,
                                           claim=self._has_claim(body, status))
        await self._patch(body, status)

    def _has_claim(self, body: dict[str, Any], status: dict[str, Any]) -> bool | None:
        """Whether the execution has a PVC to release: None when it started no pod (nothing to release)."""
        if not any(tr.get("pod") for tr in status.get("taskRuns") or []):
            return None
        if getattr(self, "claim", None) is None and getattr(self, "flow", None) is not None:
            from kflow.k8s.volumes import needs_claim

            self.claim = needs_claim(self.flow, lifecycle.keeps_volume(body.get("spec") or {}, self.config))
        return getattr(self, "claim", None) is not False

    async def _patch(self, body: dict[str, Any], status: dict[str, Any]) -> None:
        status = self.renderer.mask_deep(status)  # no secret in the status, whatever a task output
        await self.kube.patch_status(self.ns, PLURAL, self.name, status)
        self.last_status = {**(self.last_status or body.get("status") or {}), **status}
        key = (self.ns, body["spec"]["flowRef"]["name"])
        created = body["metadata"].get("creationTimestamp") or ""
        self.shared.executions[key][self.name] = (status.get("state"), created)

    async def _sync_labels(self, ex: Execution) -> None:
        wanted = {k: v for k, v in ex.labels.items() if _valid_label(k, v)}
        if wanted and wanted != self.labels_synced:
            await self.kube.patch_labels(self.ns, PLURAL, self.name, wanted)
            self.labels_synced = wanted

    def _events(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        before = {tr["id"]: (tr.get("state"), tr.get("attempts")) for tr in old.get("taskRuns") or []}
        for tr in new.get("taskRuns") or []:
            state, attempts = tr.get("state"), tr.get("attempts")
            if (state, attempts) == before.get(tr["id"]):
                continue
            failed_attempt = state == "RETRYING" or (state in ("FAILED", "WARNING") and tr.get("error"))
            if failed_attempt:
                self.post_event("Warning", "TaskFailed",
                                f"task run {tr['id']} attempt {attempts or 1} failed: {tr.get('error') or ''}"[:1000])
            # a task run that ended well gets no Event (the status says it): Events are for starts,
            # failures and the end, so that their number per execution stays small
            if tr.get("endDate") and state not in ("CREATED", "RUNNING", "RETRYING") and tr.get("startDate"):
                seconds = (_when(tr["endDate"]) - _when(tr["startDate"])).total_seconds()
                metrics.TASK_RUN_SECONDS.labels(self.ns, self.flow_name or "", state).observe(max(seconds, 0.0))
        if new.get("state") != old.get("state") and State(new["state"]).terminal:
            kind = "Normal" if new["state"] in ("SUCCESS", "WARNING") else "Warning"
            self.post_event(kind, f"Execution{new['state'].title()}", new.get("message") or new["state"])
            metrics.EXECUTIONS_ENDED.labels(self.ns, self.flow_name or "", new["state"]).inc()

    async def _fail_early(self, body: dict[str, Any], reason: str, message: str) -> bool:
        now = utcnow()
        ex = Execution(id=self.name, namespace=self.ns, flowId=body["spec"]["flowRef"]["name"], startDate=now,
                       error=message)
        ex.set_state(State.CREATED, now)
        ex.set_state(State.FAILED, now)
        status = snapshot.execution_status(ex, execution_name=self.name, flow_generation=self.flow_generation,
                                           generation=body["metadata"].get("generation"), now=now, reason=reason)
        status["message"] = message
        status["conditions"] = self._conditions("False", reason, message, body, terminal=True)
        self.post_event("Warning", reason, message[:1000])
        await self._patch(body, status)
        return True

    def _conditions(self, succeeded: str, reason: str, message: str, body: dict[str, Any],
                    terminal: bool = False) -> list[dict[str, Any]]:
        now = snapshot.ts(utcnow())
        gen = body["metadata"].get("generation")
        return [{"type": t, "status": s, "reason": reason, "message": message, "lastTransitionTime": now,
                 "observedGeneration": gen}
                for t, s in (("Running", "False"), ("Succeeded", succeeded),
                             ("Completed", "True" if terminal else "False"))]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(s: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in s.items() if k not in ("conditions", "duration")}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in s.get("conditions") or []]
        return out
    return strip(a) == strip(b)


def _valid_label(key: str, value: str) -> bool:

    name = key.rsplit("/", 1)[-1]
    return bool(re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", name)) and len(key) <= 253 \
        and bool(re.fullmatch(r"(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)", value))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

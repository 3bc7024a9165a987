"""This machine as a data source of the UI: executions from the local history (`kflow.history`, the store
`kflow run` records into), flows from the files given with --flows and the sources the history kept.

Actions run the CLI's own verbs as child processes (`kflow run`, `kill`, `restart`, `replay`, `resume`):
an execution then lives in its own process exactly as if typed in a shell (signals, recording, the
history's lock), and the UI process never drives one. Inputs are checked first, in process, the way
`kflow run` checks them, so a bad value is refused with Kestra's message before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from kflow.errors import FlowInvalid, InputsInvalid
from kflow.history import HistoryError, LocalHistory
from kflow.model.loader import load_flow_text
from kflow.ui import views
from kflow.ui.sources import ActionError, NotFound, level_of

START_WAIT = 15.0  # seconds a started `kflow run` has to record its execution


def _flow_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()))
        elif p.is_file():
            out.append(p)
    return out


def _ids(text: str) -> tuple[str, str]:
    """(namespace, id) of a flow file even when it is invalid, for its key."""
    try:
        doc = next(iter(yaml.safe_load_all(text)), None)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("spec"), dict):
        doc = {"id": (doc.get("metadata") or {}).get("name"), **doc["spec"]}
    if not isinstance(doc, dict):
        return "", ""
    return str(doc.get("namespace") or ""), str(doc.get("id") or "")


class LocalSource:
    kind = "local"
    files = True

    def __init__(self, storage_root: Path, flow_paths: list[Path] | None = None):
        self.root = Path(storage_root)
        self.history = LocalHistory(self.root)
        self.flow_paths = list(flow_paths or [])
        self.children: list[subprocess.Popen] = []
        # execution id -> (history signature, document, list row, when read)
        self._flow_of: dict[str, tuple[str, str, str | None, str | None]] = {}  # execution id -> its flow
        self._docs: dict[str, tuple[tuple[Any, ...], dict[str, Any], dict[str, Any] | None, float]] = {}

    # ---- flows ------------------------------------------------------------------------------------
    def _load(self, source: str, where: str, key_hint: str, extra: dict[str, Any]) -> dict[str, Any]:
        try:
            flow, err = load_flow_text(source, where).flow, None
        except FlowInvalid as exc:
            flow, err = None, exc
        key = f"{flow.namespace}/{flow.id}" if flow else key_hint
        name = flow.id if flow else key_hint.rpartition("/")[2]
        return views.flow_doc(key=key, name=name, source=source, flow=flow, error=err, extra=extra)

    def flows(self) -> list[dict[str, Any]]:
        docs: dict[str, dict[str, Any]] = {}
        for path in _flow_files(self.flow_paths):
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                continue
            ns, fid = _ids(text)
            hint = f"{ns or '_'}/{fid or path.stem}"
            doc = self._load(text, str(path), hint, {"path": str(path)})
            docs.setdefault(doc["key"], doc)
        for key, source, path in self._ran():  # flows known only from what ran here
            if key not in docs and source:
                docs[key] = self._load(source, path or key, key, {"path": path, "fromHistory": True})
        return sorted(docs.values(), key=lambda d: d["key"])

    def _ran(self) -> list[tuple[str, str | None, str | None]]:
        """(flow key, source, file) of each recorded execution, newest first; read once per execution
        (what ran never changes)."""
        root = self.history.root
        found = []
        for folder in root.iterdir() if root.is_dir() else []:
            if folder.name not in self._flow_of and (folder / "events.jsonl").exists():
                try:
                    rec = self.history.get(folder.name)
                except (HistoryError, ValueError, KeyError, TypeError):
                    continue
                ex = rec.execution
                self._flow_of[folder.name] = (ex.startDate.isoformat() if ex.startDate else "",
                                              f"{ex.namespace}/{ex.flowId}", rec.flow_source, rec.flow_path)
            if folder.name in self._flow_of:
                found.append(self._flow_of[folder.name])
        return [item[1:] for item in sorted(found, reverse=True)]

    def flow(self, key: str) -> dict[str, Any]:
        for doc in self.flows():
            if doc["key"] == key:
                return doc
        raise NotFound(f"flow {key} not found (not in --flows, never run here)")

    # ---- executions -------------------------------------------------------------------------------
    def _doc(self, rec: Any) -> dict[str, Any]:
        ex = rec.execution
        return views.execution_doc(ex, key=f"{ex.namespace}/{ex.id}", extra={
            "flowKey": f"{ex.namespace}/{ex.flowId}", "live": rec.live, "attempt": rec.attempt,
            "originalId": rec.original_id, "flowPath": rec.flow_path})

    def _record(self, key: str) -> Any:
        _, _, ex_id = key.rpartition("/")
        try:
            return self.history.get(ex_id)
        except HistoryError as exc:
            raise NotFound(str(exc)) from None

    @staticmethod
    def _signature(folder: Path) -> tuple[Any, ...]:
        """Changes whenever the recorder writes: its files only grow or are replaced."""
        sig: list[Any] = []
        for name in ("events.jsonl", "snapshot.json"):
            try:
                st = (folder / name).stat()
                sig += [st.st_size, st.st_mtime_ns]
            except FileNotFoundError:
                sig += [None, None]
        return tuple(sig)

    def _cached(self, folder: Path) -> dict[str, Any]:
        """The execution document, rebuilt only when its history changed: live pages poll it twice a
        second, and folding a 2,000-task-run execution costs ~100 ms. A live one is re-read every 2 s
        anyway, in case its process died without a last write."""
        sig = self._signature(folder)
        hit = self._docs.get(folder.name)
        now = time.monotonic()
        if hit is None or hit[0] != sig or (hit[1]["live"] and now - hit[3] > 2.0):
            try:
                rec = self.history.get(folder.name)
            except HistoryError as exc:
                raise NotFound(str(exc)) from None
            hit = self._docs[folder.name] = (sig, self._doc(rec), None, now)
        return hit[1]

    def _summary(self, folder: Path) -> dict[str, Any]:
        doc = self._cached(folder)
        sig, _, summary, when = self._docs[folder.name]
        if summary is None:
            summary = views.execution_summary(doc)
            self._docs[folder.name] = (sig, doc, summary, when)
        return summary

    def executions(self) -> list[dict[str, Any]]:
        root = self.history.root
        out = []
        for folder in root.iterdir() if root.is_dir() else []:
            if (folder / "events.jsonl").exists():
                try:
                    out.append(self._summary(folder))
                except (NotFound, ValueError, KeyError, TypeError):
                    continue  # unreadable history: `kflow get` names the problem
        return sorted(out, key=lambda d: d.get("startDate") or "", reverse=True)

    def execution(self, key: str) -> dict[str, Any]:
        _, _, ex_id = key.rpartition("/")
        try:
            folder = self.history.folder(ex_id)
        except HistoryError as exc:
            raise NotFound(str(exc)) from None
        return self._cached(folder)

    def logs(self, key: str, task_run_id: str | None = None) -> list[dict[str, Any]]:
        rec = self._record(key)
        return [{"date": e.date.isoformat(), "level": level_of(e.level), "message": e.message, "taskId": e.task_id,
                 "taskRunId": e.task_run_id, "attempt": e.attempt}
                for e in self.history.logs(rec.id, task=task_run_id)]

    def file(self, key: str, uri: str) -> Path:
        rec = self._record(key)
        try:
            return self.history.resolve(rec.id, uri)
        except HistoryError as exc:
            raise NotFound(str(exc)) from None

    # ---- triggers: the Schedule triggers of the known flows ------------------------------------------
    def triggers(self) -> list[dict[str, Any]]:
        from kflow.model.triggers import Schedule
        from kflow.schedule.cron import Cron, CronError

        now = datetime.now(UTC)
        out = []
        for doc in self.flows():
            if not doc["valid"]:
                continue
            flow = load_flow_text(doc["source"], doc.get("path") or doc["key"]).flow
            for t in flow.triggers:
                if not isinstance(t, Schedule):
                    continue
                try:
                    cron = Cron(t.cron, t.timezone or "UTC")
                    last, nxt = cron.previous_before(now).isoformat(), cron.next_after(now).isoformat()
                except CronError:
                    last = nxt = None
                out.append({"key": f"{doc['key']}/{t.id}", "name": t.id, "namespace": flow.namespace,
                            "flowKey": doc["key"], "cron": t.cron, "timezone": t.timezone or "UTC",
                            "suspend": t.disabled, "lastScheduleTime": last, "nextScheduleTime": nxt,
                            "active": [], "backfill": None, "conditions": []})
        return out

    # ---- actions ----------------------------------------------------------------------------------
    def _cli(self, *argv: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "kflow.cli", *argv, "--storage", str(self.root)]
        err = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: a long run never blocks on it
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        proc.err_file = err  # type: ignore[attr-defined]
        self.children.append(proc)
        return proc

    def _started(self, proc: subprocess.Popen, before: set[str]) -> str:
        """The key of the execution a child `kflow` recorded (the newest one not there before)."""
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            for rec in self.history.list_executions(limit=20):
                if rec.id not in before:
                    return f"{rec.execution.namespace}/{rec.id}"
            if proc.poll() is not None and proc.returncode != 0:
                raise ActionError(_last_error(proc) or f"kflow exited with {proc.returncode}")
            time.sleep(0.05)
        raise ActionError("the execution did not start within 15 s", status=504)

    def _known(self) -> set[str]:
        return {r.id for r in self.history.list_executions()}

    def execute(self, flow_key: str, inputs: dict[str, Any], labels: dict[str, str]) -> str:
        from kflow.runner.local import LocalRunner

        doc = self.flow(flow_key)
        if not doc["valid"] or not doc.get("path") or not Path(doc["path"]).is_file():
            raise ActionError(f"flow {flow_key} cannot be run: " + ("; ".join(doc["problems"]) or "its file is gone"))
        flow = load_flow_text(doc["source"], doc["path"]).flow
        try:  # kflow run's own check (LocalRunner.create), before any process starts
            LocalRunner(flow, storage_root=self.root).create(inputs, labels=labels)
        except InputsInvalid as exc:
            raise ActionError(f"inputs.{exc.input_id}: {exc}", field=exc.input_id) from None
        argv = ["run", doc["path"], "--quiet"]
        for k, v in inputs.items():
            argv += ["-i", f"{k}={_cli_value(v)}"]
        for k, v in labels.items():
            argv += ["-l", f"{k}={v}"]
        before = self._known()
        return self._started(self._cli(*argv), before)

    def _verb(self, verb: str, key: str, *extra: str, new: bool = False, goes_on: bool = False) -> str:
        """Run `kflow <verb>`; answer once its effect shows: the new execution recorded (replay), the
        same one driven again (restart, resume: so the page follows it live), or the verb done (kill)."""
        rec = self._record(key)
        before = self._known()
        proc = self._cli(verb, rec.id, *extra)
        if new:
            return self._started(proc, before)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                if proc.returncode != 0:
                    raise ActionError(_last_error(proc) or f"kflow {verb} exited with {proc.returncode}")
                return key
            if goes_on and self._record(key).live:
                return key
            time.sleep(0.05)
        return key

    def kill(self, key: str) -> str:
        return self._verb("kill", key)

    def restart(self, key: str) -> str:
        return self._verb("restart", key, goes_on=True)

    def resume(self, key: str) -> str:
        return self._verb("resume", key, goes_on=True)

    def replay(self, key: str, task_run_id: str) -> str:
        return self._verb("replay", key, "--from", task_run_id, new=True)


def _cli_value(value: Any) -> str:
    """A form value as `kflow run -i` takes it (lists and maps as JSON, booleans as true/false)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _last_error(proc: subprocess.Popen) -> str:
    """The last line a failed child `kflow` printed on stderr (its one-line error)."""
    err = proc.err_file  # type: ignore[attr-defined]
    err.seek(0)
    lines = err.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""

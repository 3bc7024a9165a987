"""PodWorker: one thread per pod bound to this node, doing what kubelet does for it.

Pending (volumes, config) -> init containers in order -> containers -> terminal phase,
with activeDeadlineSeconds and graceful deletion (SIGTERM, grace period, SIGKILL,
then DELETE with grace 0) checked throughout.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

from .container import Container, security
from .fields import ConfigError, container_env
from .kube import ApiError, log, now, parse_time
from .volumes import NotReady, realise

# Host environment passed into containers (the rest comes from the pod spec), so that
# host tools (python3, kflow, pyenv shims, a venv on PATH) work inside pods.
PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYENV_ROOT", "PYENV_VERSION", "VIRTUAL_ENV")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TICK = 0.2


class Deleted(Exception):
    """The pod is being deleted: stop whatever stage we are in."""


class Deadline(Exception):
    """activeDeadlineSeconds exceeded."""


class PodWorker(threading.Thread):
    def __init__(self, agent, pod: dict):
        md = pod["metadata"]
        super().__init__(name=f"pod-{md['namespace']}/{md['name']}", daemon=True)
        self.agent, self.kube = agent, agent.kube
        self.pod = pod
        self.uid, self.ns, self.pod_name = md["uid"], md["namespace"], md["name"]
        self.dir: Path = agent.state_dir / "pods" / f"{self.ns}_{self.pod_name}_{self.uid}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.changed = threading.Event()
        self.removed = False
        spec = pod["spec"]
        self.inits = [Container(c, self.dir, self.uid, True) for c in spec.get("initContainers") or []]
        self.mains = [Container(c, self.dir, self.uid, False) for c in spec["containers"]]
        if self.inits:
            for c in self.mains:
                c.waiting("PodInitializing")
        self.phase = "Pending"
        self.reason = self.message = None
        self.start_time = (pod.get("status") or {}).get("startTime") or now()
        self.conds: dict[str, tuple[str, str | None, str]] = {}
        self.mounts: dict[str, str] = {}

    # ------------------------------------------------------------ plumbing

    def update(self, pod: dict) -> None:
        self.pod = pod
        self.changed.set()

    def container(self, name: str) -> Container | None:
        return next((c for c in self.inits + self.mains if c.name == name), None)

    @property
    def deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp")) or self.removed

    def check(self) -> None:
        if self.deleting:
            raise Deleted()
        limit = self.pod["spec"].get("activeDeadlineSeconds")
        if limit is not None and time.time() - parse_time(self.start_time).timestamp() > limit:
            raise Deadline()

    def wait(self, seconds: float) -> None:
        self.changed.wait(seconds)
        self.changed.clear()
        self.check()

    def cond(self, type_: str, ok: bool, reason: str | None = None) -> None:
        status = "True" if ok else "False"
        old = self.conds.get(type_)
        t = old[2] if old and old[0] == status else now()
        self.conds[type_] = (status, reason, t)

    def push(self) -> None:
        images = {c["name"]: c.get("image", "") for c in
                  self.pod["spec"]["containers"] + (self.pod["spec"].get("initContainers") or [])}
        ip = [{"ip": "127.0.0.1"}]
        status = {
            "phase": self.phase, "reason": self.reason, "message": self.message,
            "hostIP": "127.0.0.1", "hostIPs": ip, "podIP": "127.0.0.1", "podIPs": ip,
            "startTime": self.start_time,
            "conditions": [{"type": t, "status": s, "lastTransitionTime": lt, "lastProbeTime": None,
                            **({"reason": r} if r else {})} for t, (s, r, lt) in self.conds.items()],
            "containerStatuses": [c.status(images[c.name]) for c in self.mains],
            "initContainerStatuses": [c.status(images[c.name]) for c in self.inits],
        }
        try:
            self.kube.patch_pod_status(self.ns, self.pod_name, status)
        except ApiError as e:
            log.warning("%s: status update failed: %s", self.name, e.reason)

    # ------------------------------------------------------------ lifecycle

    def run(self) -> None:
        try:
            self.lifecycle()
        except Deleted:
            self.terminate(self.grace())
        except Deadline:
            # Like the kubelet, the pod is Failed/DeadlineExceeded in the same update that shows the
            # containers killed: never an intermediate "Failed" without the reason.
            self.phase, self.reason = "Failed", "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            self.terminate(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
            self.finish_conditions()
            self.push()
        except Exception as e:
            log.exception("%s: worker crashed", self.name)
            self.terminate(0)
            self.phase, self.reason, self.message = "Failed", "NodeAgentError", f"kflow node agent: {e}"
            self.push()
        # Terminal now: wait for deletion (graceful -> we finalise) and then removal
        # (which may wait for other finalizers).
        deleted = False
        while not self.removed:
            if self.pod["metadata"].get("deletionTimestamp") and not deleted:
                self.terminate(0)
                self.force_delete()
                deleted = True
            self.changed.wait(1)
            self.changed.clear()
        self.cleanup()

    def lifecycle(self) -> None:
        st = self.pod.get("status") or {}
        if st.get("phase") in ("Succeeded", "Failed"):
            self.phase = st["phase"]
            return
        if self.adopt_orphan(st):
            return
        policy = self.pod["spec"].get("restartPolicy", "Always")
        self.cond("PodScheduled", True)
        self.cond("PodReadyToStartContainers", False)
        self.cond("Initialized", not self.inits, None if not self.inits else "ContainersNotInitialized")
        self.cond("ContainersReady", False, "ContainersNotReady")
        self.cond("Ready", False, "ContainersNotReady")
        self.push()
        self.prepare_volumes()
        self.cond("PodReadyToStartContainers", True)
        for c in self.inits:
            while True:
                self.start_container(c)
                self.push()
                while not c.poll():
                    self.wait(TICK)
                if c.exit_code == 0 or policy == "Never":
                    break
                self.backoff(c)
            if c.exit_code != 0:
                self.phase = "Failed"
                self.finish_conditions()
                self.push()
                return
        self.cond("Initialized", True)
        for c in self.mains:
            self.start_container(c)
        self.phase = "Running"
        self.update_ready()
        self.push()
        while True:
            self.wait(TICK)
            changed = False
            for c in self.mains:
                if "terminated" in c.state or not c.poll():
                    continue
                changed = True
                if policy == "Always" or (policy == "OnFailure" and c.exit_code != 0):
                    self.push()
                    self.backoff(c)
                    self.start_container(c)
            if changed:
                self.update_ready()
                self.push()
            if all("terminated" in c.state for c in self.mains):
                break
        self.phase = "Succeeded" if all(c.exit_code == 0 for c in self.mains) else "Failed"
        self.finish_conditions()
        self.push()

    def adopt_orphan(self, st: dict) -> bool:
        """After a node agent restart we cannot re-attach to old processes: fail the pod."""
        started = [s for s in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or [])
                   if "waiting" not in (s.get("state") or {"waiting": {}})]
        if not started or self.pod["spec"].get("restartPolicy", "Always") != "Never":
            return False
        for c in self.inits + self.mains:
            prev = next((s for s in started if s["name"] == c.name), None)
            if prev and "terminated" in prev["state"]:
                c.state = prev["state"]
            elif prev:
                c.state = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now(),
                                          "message": "kflow node agent restarted while the container ran",
                                          "startedAt": prev["state"].get("running", {}).get("startedAt")}}
        self.phase = "Failed"
        self.finish_conditions()
        self.push()
        return True

    def prepare_volumes(self) -> None:
        while True:
            try:
                self.mounts = realise(self.kube, self.pod, self.dir)
                return
            except ConfigError as e:
                reason = "ContainerCreating" if isinstance(e, NotReady) else "CreateContainerConfigError"
                for c in self.inits[:1] or self.mains:
                    c.waiting(reason, str(e))
                self.push()
            self.wait(1)

    def start_container(self, c: Container) -> None:
        """Resolve env/security (retrying config errors like kubelet) and start the process."""
        while True:
            try:
                sec = security(self.pod, c.spec)
                env = container_env(self.kube, self.pod, c.spec, self.base_env())
                break
            except ConfigError as e:
                c.waiting("CreateContainerConfigError", str(e))
                self.push()
            self.wait(1)
        mounts = []
        for m in c.spec.get("volumeMounts") or []:
            src = self.mounts.get(m["name"])
            if src is None:
                continue
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
                os.makedirs(src, exist_ok=True)
            mounts.append({"src": src, "dst": m["mountPath"], "readOnly": bool(m.get("readOnly"))})
        c.start(env, mounts, sec, self.agent.procs_dir, self.agent.state_dir / "placeholders")

    def base_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.setdefault("PATH", DEFAULT_PATH)
        env["HOSTNAME"] = self.pod["spec"].get("hostname") or self.pod_name
        host, port = self.agent.api_host, self.agent.api_port
        # No kube-proxy: in-cluster clients talk to the API server's real address.
        env.update({"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
                    "KUBERNETES_SERVICE_PORT_HTTPS": port, "KUBERNETES_PORT": f"tcp://{host}:{port}"})
        return env

    def backoff(self, c: Container) -> None:
        c.prepare_restart()
        self.push()
        delay = min(2 ** min(c.restarts, 5), 30)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            self.wait(TICK)

    def update_ready(self) -> None:
        ready = all(c.running for c in self.mains)
        self.cond("ContainersReady", ready, None if ready else "ContainersNotReady")
        self.cond("Ready", ready, None if ready else "ContainersNotReady")

    def finish_conditions(self) -> None:
        self.cond("ContainersReady", False, "PodCompleted")
        self.cond("Ready", False, "PodCompleted")
        self.cond("PodReadyToStartContainers", False)

    # ------------------------------------------------------------ stopping

    def grace(self) -> int:
        g = self.pod["metadata"].get("deletionGracePeriodSeconds")
        return self.pod["spec"].get("terminationGracePeriodSeconds", 30) if g is None else g

    def terminate(self, grace: float) -> None:
        """SIGTERM everything running, SIGKILL after `grace` seconds, record exits."""
        running = [c for c in self.inits + self.mains if c.proc is not None and not c.poll()]
        if running:
            for c in running:
                c.send(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and not all(c.poll() for c in running):
                time.sleep(0.1)
            for c in running:
                c.kill_now()
            if self.phase not in ("Succeeded", "Failed"):
                self.phase = "Succeeded" if all(c.exit_code == 0 for c in self.mains) else "Failed"
            self.finish_conditions()
            self.push()

    def force_delete(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            self.kube.raw("DELETE", f"/api/v1/namespaces/{self.ns}/pods/{self.pod_name}", body)
        except ApiError as e:
            if e.status not in (404, 409):
                log.warning("%s: delete failed: %s", self.name, e.reason)

    def cleanup(self) -> None:
        for c in self.inits + self.mains:
            c.kill_now()
        shutil.rmtree(self.dir, ignore_errors=True)

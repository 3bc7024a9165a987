"""One container of a pod: a host process started through launch.py, its log and its status."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
from pathlib import Path

from .fields import ConfigError, expand
from .kube import now

LAUNCH = str(Path(__file__).with_name("launch.py"))
# launch.py needs only the standard library. A virtualenv's interpreter fails to import it once launch.py
# has dropped root (ModuleNotFoundError after setuid), so the base interpreter runs it.
LAUNCHER_PYTHON = getattr(sys, "_base_executable", None) or sys.executable
MAX_MESSAGE = 4096  # kubelet: MaxContainerTerminationMessageLength
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # kubelet: FallbackToLogsOnError tail


def _ts() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Container:
    def __init__(self, spec: dict, root: Path, pod_uid: str, init: bool):
        self.spec, self.name, self.init = spec, spec["name"], init
        self.dir = root / "containers" / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pod_uid = pod_uid
        self.restarts = 0
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.proc: subprocess.Popen | None = None
        self.started_at = ""
        self._log_lock = threading.Lock()
        self._pumps: list[threading.Thread] = []
        self.pgid_file: Path | None = None

    # ------------------------------------------------------------ paths

    def log_path(self, run: int | None = None) -> Path:
        return self.dir / f"{self.restarts if run is None else run}.log"

    @property
    def message_file(self) -> Path:
        return self.dir / "termination-log"

    @property
    def container_id(self) -> str:
        return f"kflow://{self.pod_uid}-{self.name}-{self.restarts}"

    # ------------------------------------------------------------ running

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}

    def start(self, env: dict[str, str], mounts: list[dict], sec: dict, procs_dir: Path,
              placeholders: Path) -> None:
        spec = self.spec
        cmd = [expand(a, env) for a in (spec.get("command") or []) + (spec.get("args") or [])]
        self.message_file.write_bytes(b"")
        self.message_file.chmod(0o666)  # the container may run as any uid
        if not cmd:
            self._start_failed("no command: the kflow node agent ignores images, so a pod must set command")
            return
        uid = sec["uid"]
        if "HOME" not in env:
            try:
                env["HOME"] = pwd.getpwuid(uid).pw_dir
            except KeyError:
                env["HOME"] = "/"
        tmp_path = spec.get("terminationMessagePath") or "/dev/termination-log"
        launch = {
            "argv": cmd,
            "env": env,
            "cwd": spec.get("workingDir") or "/",
            "mounts": sorted([*mounts, {"src": str(self.message_file), "dst": tmp_path}],
                             key=lambda m: m["dst"].rstrip("/").count("/")),
            "uid": uid, "gid": sec["gid"], "groups": sec["groups"], "noNewPrivs": sec["noNewPrivs"],
            "placeholders": str(placeholders),
        }
        spec_file = self.dir / "launch.json"
        spec_file.write_text(json.dumps(launch))
        spec_file.chmod(0o600)
        log = self.log_path()
        log.write_bytes(b"")
        # -I: the launcher is stdlib-only and must not pick up the pod's/agent's PYTHON* env.
        self.proc = subprocess.Popen([LAUNCHER_PYTHON, "-I", LAUNCH, str(spec_file)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, env={})
        self.pgid_file = procs_dir / f"{self.pod_uid}_{self.name}.pgid"
        self.pgid_file.write_text(str(self.proc.pid))
        self.started_at = now()
        self.state = {"running": {"startedAt": self.started_at}}
        self._pumps = [threading.Thread(target=self._pump, args=(p, n), daemon=True)
                       for p, n in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for t in self._pumps:
            t.start()

    def _pump(self, pipe, stream: str) -> None:
        """Copy output to the log file, one CRI-style record per line: '<ts> <stream> <F|P> <text>'."""
        path = self.log_path()
        with pipe, open(path, "ab") as out:
            for line in iter(pipe.readline, b""):
                tag, text = (b"F", line[:-1]) if line.endswith(b"\n") else (b"P", line)
                with self._log_lock:
                    out.write(b"%s %s %s %s\n" % (_ts().encode(), stream.encode(), tag, text))
                    out.flush()

    def _start_failed(self, message: str) -> None:
        self.proc = None
        t = now()
        self.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": message,
                                     "startedAt": t, "finishedAt": t, "containerID": self.container_id}}

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def exit_code(self) -> int | None:
        return self.state.get("terminated", {}).get("exitCode")

    def poll(self) -> bool:
        """Record the exit if the process ended. True when (newly or already) terminated."""
        if "terminated" in self.state:
            return True
        if self.proc is None or self.proc.poll() is None:
            return False
        self._finish(self.proc.returncode)
        return True

    def send(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill_now(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.send(signal.SIGKILL)
            self.proc.wait()
            self.poll()

    def _finish(self, rc: int, reason: str | None = None) -> None:
        # Like a container's cgroup: nothing the command started outlives it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for t in self._pumps:
            t.join(timeout=5)
        if self.pgid_file:
            self.pgid_file.unlink(missing_ok=True)
        code, sig = (128 - rc, -rc) if rc < 0 else (rc, 0)
        term = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"),
                "startedAt": self.started_at, "finishedAt": now(), "containerID": self.container_id}
        if sig:
            term["signal"] = sig
        msg = self._termination_message(code)
        if msg:
            term["message"] = msg
        self.state = {"terminated": term}

    def _termination_message(self, code: int) -> str:
        try:
            with open(self.message_file, "rb") as f:
                msg = f.read(MAX_MESSAGE)
        except OSError:
            msg = b""
        if not msg and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            msg = b"".join(text for _, _, text in read_log(self.log_path(), tail=FALLBACK_LINES))
            msg = msg[-FALLBACK_BYTES:]
        return msg.decode(errors="replace")

    def prepare_restart(self) -> None:
        self.last_state = self.state
        self.restarts += 1
        self.waiting("CrashLoopBackOff", f"back-off restarting failed container {self.name}")

    # ------------------------------------------------------------ status

    def status(self, image: str) -> dict:
        st = {"name": self.name, "image": image or "none", "imageID": "", "restartCount": self.restarts,
              "ready": self.running and not self.init, "started": self.running,
              "state": self.state, "lastState": self.last_state}
        if "waiting" not in self.state:
            st["containerID"] = self.container_id
        return st


def read_log(path: Path, tail: int | None = None):
    """Yield (timestamp, stream, text-with-newline) records of a container log file."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return
    if tail is not None:
        lines = lines[-tail:] if tail else []
    yield from parse_records(lines)


def parse_records(lines: list[bytes]):
    for rec in lines:
        ts, stream, tag, text = [*rec.split(b" ", 3), b"", b"", b""][:4]
        yield ts.decode(), stream.decode(), text + (b"\n" if tag == b"F" else b"")


def security(pod: dict, c: dict) -> dict:
    """uid/gid/groups for the process, from pod + container securityContext."""
    psc, csc = pod["spec"].get("securityContext") or {}, c.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    nonroot = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    if uid is None:
        # No image user to inspect: the "image" runs as root unless non-root is required,
        # then as nobody (so restricted pods without runAsUser still run).
        uid = 65534 if nonroot else 0
        if gid is None and nonroot:
            gid = 65534
    elif uid == 0 and nonroot:
        raise ConfigError("container's runAsUser breaks non-root policy")
    groups = list(psc.get("supplementalGroups") or [])
    if psc.get("fsGroup") is not None:
        groups.append(psc["fsGroup"])
    return {"uid": uid, "gid": 0 if gid is None else gid, "groups": groups,
            "noNewPrivs": csc.get("allowPrivilegeEscalation") is False}

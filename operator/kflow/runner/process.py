"""Child processes of task runs: own process group, line-by-line output, kill of the whole tree."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path


class _Spawned:
    """A posix_spawn'ed child with the little of Popen's interface used here (raw pipe fds)."""

    def __init__(self, pid: int, stdout: int, stderr: int):
        self.pid = pid
        self.fds = (stdout, stderr)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


_DEVNULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # stdin of every spawned task, kept open


def _spawn(argv: list[str], env: Mapping[str, str]) -> _Spawned:
    # posix_spawn (vfork underneath) costs about as much as a bare `sh -c`; Popen adds ~0.1 ms a task.
    # Pipe fds are close-on-exec, so the child keeps only the ends dup2'ed onto 0, 1 and 2.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, _DEVNULL, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return _Spawned(pid, out_r, err_r)


class ProcessSlot:
    """The process a task run attempt is running, so a timeout or a kill can end its tree."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | _Spawned | None = None
        self.killed_reason: str | None = None

    @property
    def pid(self) -> int | None:
        """The running child's pid (None between processes)."""
        proc = self._proc
        return None if proc is None else proc.pid

    def kill(self, reason: str) -> None:
        with self._lock:
            if self.killed_reason is None:
                self.killed_reason = reason
            proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_now(self) -> None:
        """SIGKILL without taking the lock (a signal handler may have interrupted its holder)."""
        proc = self._proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def terminate(self, reason: str, grace: float) -> None:
        """SIGTERM to the process group, SIGKILL `grace` seconds later if it is still there."""
        with self._lock:
            if self.killed_reason is None:
                self.killed_reason = reason
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        timer = threading.Timer(grace, self.kill, (reason,))
        timer.daemon = True
        timer.start()

    def run(self, argv: list[str], *, env: Mapping[str, str], cwd: Path | None,
            on_line: Callable[[str, bool], None], stdin: bytes | None = None,
            while_running: Callable[[], None] | None = None) -> int:
        """`cwd=None` (the command changes directory itself) and no stdin take the fast spawn path.
        `while_running` is called once the child is started: work that overlaps with its run."""
        with self._lock:
            if self.killed_reason is not None:
                return -signal.SIGKILL
            if cwd is None and stdin is None:
                proc: subprocess.Popen | _Spawned = _spawn(argv, env)
            else:
                proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE,
                                        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                        start_new_session=True)
            self._proc = proc
        if stdin is not None:
            assert isinstance(proc, subprocess.Popen) and proc.stdin is not None
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        if while_running is not None:
            while_running()
        _pump(proc, on_line)
        code = proc.wait()
        # The tree may outlive its leader (backgrounded children); end it with the task.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        with self._lock:
            self._proc = None
        return code


def _pump(proc: subprocess.Popen | _Spawned, on_line: Callable[[str, bool], None]) -> None:
    """Read stdout and stderr to their ends, a line at a time, then close them."""
    if isinstance(proc, _Spawned):
        out, err = proc.fds
    else:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
    poller = select.poll()
    poller.register(out, select.POLLIN)
    poller.register(err, select.POLLIN)
    buffers = {out: b"", err: b""}
    try:
        while buffers:
            for fd, _ in poller.poll():
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    rest = buffers.pop(fd)
                    if rest:
                        on_line(rest.decode(errors="replace"), fd == err)
                    continue
                data = buffers[fd] + chunk
                *lines, buffers[fd] = data.split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace").rstrip("\r"), fd == err)
    finally:
        if isinstance(proc, _Spawned):
            os.close(out)
            os.close(err)
        else:
            proc.stdout.close()
            proc.stderr.close()

"""Child processes of task runs: own process group, line-by-line output, kill of the whole tree."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path


class _Spawned:
    """A posix_spawn'ed child with the little of Popen's interface used here."""

    def __init__(self, pid: int, stdout: int, stderr: int):
        self.pid = pid
        self.stdout = os.fdopen(stdout, "rb", 0)
        self.stderr = os.fdopen(stderr, "rb", 0)
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


def _spawn(argv: list[str], env: Mapping[str, str]) -> _Spawned:
    # posix_spawn (vfork underneath) costs about as much as a bare `sh -c`; Popen adds ~0.1 ms a task.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.posix_spawnp(argv[0], argv, dict(env), setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2),
            (os.POSIX_SPAWN_CLOSE, out_r), (os.POSIX_SPAWN_CLOSE, err_r)])
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, null):
            os.close(fd)
    return _Spawned(pid, out_r, err_r)


class ProcessSlot:
    """The process a task run attempt is running, so a timeout or a kill can end its tree."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | _Spawned | None = None
        self.killed_reason: str | None = None

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

    def run(self, argv: list[str], *, env: Mapping[str, str], cwd: Path | None,
            on_line: Callable[[str, bool], None], stdin: bytes | None = None) -> int:
        """`cwd=None` (the command changes directory itself) and no stdin take the fast spawn path."""
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
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    buffers = {proc.stdout: b"", proc.stderr: b""}
    sel.register(proc.stdout, selectors.EVENT_READ, False)
    sel.register(proc.stderr, selectors.EVENT_READ, True)
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            stream = key.fileobj
            chunk = os.read(stream.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                sel.unregister(stream)
                open_streams -= 1
                rest = buffers.pop(stream)  # type: ignore[arg-type]
                if rest:
                    on_line(rest.decode(errors="replace"), key.data)
                continue
            data = buffers[stream] + chunk  # type: ignore[index]
            *lines, buffers[stream] = data.split(b"\n")  # type: ignore[index]
            for line in lines:
                on_line(line.decode(errors="replace").rstrip("\r"), key.data)
    sel.close()
    proc.stdout.close()
    proc.stderr.close()

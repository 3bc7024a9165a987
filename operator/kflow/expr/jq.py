"""The `jq` filter, on the real jq (the `jq` package binds libjq): the whole language, not a subset.
Like Kestra's jackson-jq, results are always a list.

libjq runs C code the sandbox cannot interrupt or bound (`[range(1e9)]` allocates without end, `repeat(.)`
never returns, `env` reads the process environment), so each program runs in a forked child with an empty
environment, a CPU-time and an address-space limit, and a wall-clock deadline; its results come back as JSON.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import select
import signal
import time
from functools import lru_cache
from typing import Any

import jq as libjq

from .values import ExprError, to_json

TIMEOUT_SECONDS = 3.0
MEMORY_BYTES = 512 * 1024 * 1024  # more address space than the parent had when it forked
MAX_RESULT_BYTES = 20_000_000


@lru_cache(maxsize=256)
def _program(expr: str) -> Any:
    try:
        return libjq.compile(expr)
    except ValueError as exc:
        raise ExprError(f"jq: invalid expression `{expr}`: {str(exc).splitlines()[0]}") from None


def jq(value: Any, expr: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    _program(expr)  # a syntax error is reported here, without a child
    result = _isolated(expr, to_json(value))
    if "error" in result:
        raise ExprError(f"jq: `{expr}` failed: {result['error']}")
    return result["ok"]


def _vm_size() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _child(expr: str, text: str, out: int) -> None:
    os.environ.clear()  # `env` / `$ENV` (bound when compiling) see nothing of the process environment
    faulthandler.disable()  # a program stopped by its limits is an error of the filter, not a crash to print
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    cpu = int(TIMEOUT_SECONDS) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    size = _vm_size()
    if size:
        resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_BYTES, size + MEMORY_BYTES))
    try:
        payload: dict[str, Any] = {"ok": list(libjq.compile(expr).input_text(text).all())}
    except ValueError as exc:
        payload = {"error": str(exc).splitlines()[0]}
    except MemoryError:
        payload = {"error": "out of memory"}
    data = memoryview(json.dumps(payload).encode())
    while data:
        data = data[os.write(out, data):]


def _isolated(expr: str, text: str) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, write the result, leave without any clean-up of the parent's state
        code = 0
        try:
            os.close(read_fd)
            _child(expr, text, write_fd)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks, size, deadline, failure = [], 0, time.monotonic() + TIMEOUT_SECONDS, None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                failure = f"took more than {TIMEOUT_SECONDS:g} s"
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                failure = f"result larger than {MAX_RESULT_BYTES} bytes"
                break
    finally:
        os.close(read_fd)
        if failure:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if failure:
        return {"error": failure}
    if not chunks:  # killed by its CPU or memory limit, or it crashed
        return {"error": "stopped: too much time or memory" if os.WIFSIGNALED(status) or status else "no result"}
    return json.loads(b"".join(chunks))

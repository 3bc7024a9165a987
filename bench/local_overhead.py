"""Engine and local-runner overhead, against floors measured in the same run.

1. Per-task engine overhead: a 100-task flow of Log/Return tasks (all evaluated in the engine);
   wall time of the whole execution divided by 100. Target <= 2 ms per task.
2. Runner overhead for processes: a 20-task flow of shell `true` commands, against 20 bare
   `sh -c true` spawns with subprocess in this same process. Target ratio <= 1.5.

Run: python bench/local_overhead.py [--repeat N]. Medians of N repetitions are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from kflow.engine.state import State
from kflow.model.loader import load_flow_text
from kflow.runner.local import LocalRunner


def inline_flow(n: int) -> str:
    tasks = []
    for i in range(n):
        if i % 2:
            tasks.append(f"  - id: t{i}\n    type: io.kestra.plugin.core.debug.Return\n"
                         f"    format: \"{{{{ outputs.t{i - 1} is defined }}}}-{i}\"\n")
        else:
            tasks.append(f"  - id: t{i}\n    type: io.kestra.plugin.core.log.Log\n    message: \"step {i}\"\n")
    return "id: inline\nnamespace: bench\ntasks:\n" + "".join(tasks)


def shell_flow(n: int) -> str:
    return "id: shell\nnamespace: bench\ntasks:\n" + "".join(
        f"  - id: s{i}\n    type: io.kestra.plugin.scripts.shell.Commands\n    failFast: false\n"
        f"    commands: [\"true\"]\n" for i in range(n))


def time_flow(text: str, storage: Path) -> float:
    flow = load_flow_text(text, "bench").flow
    runner = LocalRunner(flow, storage_root=storage)
    started = time.perf_counter()
    ex = runner.run({})
    took = time.perf_counter() - started
    assert ex.state == State.SUCCESS, ex.state
    return took


def time_bare(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(["sh", "-c", "true"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp)
        time_flow(inline_flow(10), storage)  # warm imports and template caches
        time_flow(shell_flow(2), storage)
        inline = [time_flow(inline_flow(100), storage) for _ in range(args.repeat)]
        shell, bare = [], []
        for _ in range(args.repeat):
            shell.append(time_flow(shell_flow(20), storage))
            bare.append(time_bare(20))
    per_task_ms = statistics.median(inline) / 100 * 1000
    ratio = statistics.median(shell) / statistics.median(bare)
    print(f"engine: 100 Log/Return tasks, median {statistics.median(inline) * 1000:.1f} ms "
          f"=> {per_task_ms:.3f} ms per task (target <= 2 ms)")
    print(f"shell: 20-task flow median {statistics.median(shell) * 1000:.1f} ms, "
          f"20 bare `sh -c true` median {statistics.median(bare) * 1000:.1f} ms, "
          f"ratio {ratio:.2f} (target <= 1.5)")
    extra = (statistics.median(shell) - statistics.median(bare)) / 20 * 1000
    print(f"shell: kflow adds {extra:.3f} ms per task run (engine step, working directory, output capture)")


if __name__ == "__main__":
    main()

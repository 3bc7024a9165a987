"""`kflow gantt EXEC`: the task runs of an execution on a time axis, in the terminal or (`--html FILE`) as
a standalone web page with the same chart (no scripts, no network: one file to open or attach)."""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_OK, CliError
from kflow.cli.console import COLOURS, Paint, label
from kflow.cli.history import span
from kflow.cli.sources import add_source_options, get_record, history_source
from kflow.engine.state import Execution, State, TaskRun

HTML_COLOURS = {State.SUCCESS: "#2e9e4f", State.WARNING: "#e0a100", State.FAILED: "#d93535",
                State.KILLED: "#9b4dca", State.RUNNING: "#1e88e5", State.RETRYING: "#f08c00",
                State.PAUSED: "#5c6bc0", State.SKIPPED: "#9e9e9e", State.CREATED: "#b0bec5"}


@dataclass
class Bar:
    task_run: TaskRun
    depth: int
    start: float  # seconds after the execution started
    end: float

    @property
    def name(self) -> str:
        return label(self.task_run)


def bars(ex: Execution, now: datetime | None = None) -> tuple[list[Bar], float]:
    """One bar per task run, parents before their children (pure); and the span of the chart."""
    now = now or datetime.now(UTC)
    origin = ex.startDate or now
    finish = ex.endDate if ex.state.terminal and ex.endDate else now
    by_parent: dict[str | None, list[TaskRun]] = {}
    for tr in ex.taskRuns:
        by_parent.setdefault(tr.parentId, []).append(tr)
    out: list[Bar] = []

    def walk(parent: str | None, depth: int) -> None:
        for tr in by_parent.get(parent, []):
            start = tr.attempts[0].startDate if tr.attempts else tr.startDate or origin
            end = tr.endDate if tr.state.terminal and tr.endDate else finish
            out.append(Bar(tr, depth, max((start - origin).total_seconds(), 0.0),
                           max((end - origin).total_seconds(), 0.0)))
            walk(tr.id, depth + 1)

    walk(None, 0)
    total = max([(finish - origin).total_seconds(), *(b.end for b in out), 1e-3])
    return out, total


def terminal(ex: Execution, out: Any, width: int | None = None) -> None:
    rows, total = bars(ex)
    paint = Paint(out)
    names = ["  " * b.depth + b.name for b in rows]
    name_w = min(max([len(n) for n in names] + [4]), 40)
    cols = width or shutil.get_terminal_size((100, 20)).columns
    chart_w = max(cols - name_w - 22, 20)
    print(f"{ex.namespace}.{ex.flowId} {ex.id} {paint.state(ex.state)} {span(total)}", file=out)
    axis = [" "] * chart_w
    for i in range(5):
        mark = span(total * i / 4)
        pos = min(round((chart_w - 1) * i / 4), chart_w - len(mark))
        axis[pos:pos + len(mark)] = list(mark)
    print(f"{'':<{name_w}} |{''.join(axis)}|", file=out)
    for b, name in zip(rows, names, strict=True):
        a = int(b.start / total * chart_w)
        z = max(int(b.end / total * chart_w), a + 1)
        z = min(z, chart_w)
        bar = " " * a + paint("█" * (z - a), COLOURS.get(b.task_run.state)) + " " * (chart_w - z)
        print(f"{name[:name_w]:<{name_w}} |{bar}| {b.task_run.state.value:<8} {span(b.end - b.start):>7}",
              file=out)


def page(ex: Execution) -> str:
    rows, total = bars(ex)
    ticks = "".join(f'<div class="tick" style="left:{i * 25}%">{html.escape(span(total * i / 4))}</div>'
                    for i in range(5))
    body = []
    for b in rows:
        tr = b.task_run
        left = b.start / total * 100
        width = max((b.end - b.start) / total * 100, 0.0)
        colour = HTML_COLOURS.get(tr.state, "#607d8b")
        tip = f"{b.name}: {tr.state.value}, {span(b.end - b.start)}, {len(tr.attempts)} attempt(s)"
        if tr.error:
            tip += f" - {tr.error[:300]}"
        body.append(
            f'<div class="row"><div class="name" style="padding-left:{8 + 16 * b.depth}px">'
            f'{html.escape(b.name)}</div><div class="lane"><div class="bar" data-task-run="{html.escape(tr.id)}" '
            f'data-state="{tr.state.value}" title="{html.escape(tip)}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{colour}"></div></div>'
            f'<div class="dur">{html.escape(span(b.end - b.start))}</div></div>')
    title = f"{ex.namespace}.{ex.flowId} {ex.id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - Gantt</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }} .meta {{ color: #555; margin-bottom: 16px; }}
.state {{ font-weight: 600; color: {HTML_COLOURS.get(ex.state, "#222")}; }}
.chart {{ border-top: 1px solid #ddd; }}
.row, .axis {{ display: flex; align-items: center; height: 30px; border-bottom: 1px solid #eee; }}
.name {{ width: 260px; flex: none; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }}
.lane {{ position: relative; flex: 1; height: 30px; }}
.bar {{ position: absolute; top: 6px; height: 18px; min-width: 4px; border-radius: 3px; }}
.dur {{ width: 80px; flex: none; text-align: right; color: #555; }}
.axis .lane {{ height: 20px; }} .tick {{ position: absolute; font-size: 12px; color: #777;
  transform: translateX(-50%); }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<div class="meta"><span class="state">{ex.state.value}</span> &middot; started
{html.escape(ex.startDate.isoformat() if ex.startDate else "")} &middot; {html.escape(span(total))}
&middot; {len(rows)} task run(s)</div>
<div class="chart"><div class="axis"><div class="name"></div><div class="lane">{ticks}</div>
<div class="dur"></div></div>
{chr(10).join(body)}
</div></body></html>
"""


def cmd_gantt(args: argparse.Namespace) -> int:
    rec = get_record(history_source(args), args.execution)
    if args.html:
        try:
            Path(args.html).write_text(page(rec.execution), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{args.html}: cannot write: {exc.strerror}", 1) from None
        print(f"wrote {args.html}", file=sys.stderr)
        return EXIT_OK
    terminal(rec.execution, sys.stdout, args.width)
    return EXIT_OK


def add_commands(sub: Any) -> None:
    g = sub.add_parser("gantt", help="draw an execution's task runs on a time axis")
    g.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    g.add_argument("--html", metavar="FILE", help="write a standalone HTML page with the chart")
    g.add_argument("--width", type=int, help="terminal columns (default: the terminal's)")
    add_source_options(g)
    g.set_defaults(func=cmd_gantt)

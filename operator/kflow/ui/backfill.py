"""The backfill dialog: the dry-run table (which ticks would run, under which Execution name, and why),
then the CronTrigger's spec.backfill once confirmed. Decisions come from the operator's own planner
(kflow.schedule.plan), so the table shows exactly what the operator will do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kflow.k8s.models import GROUP, VERSION, BackfillSpec
from kflow.k8s.schedules import check_backfill, run_of
from kflow.schedule import naming as sn
from kflow.schedule.cron import Cron, CronError
from kflow.schedule.plan import backfill_id, backfill_ticks, by_tick, dry_run
from kflow.ui.sources import ActionError

if TYPE_CHECKING:
    from kflow.ui.cluster import ClusterSource

SHOWN_TICKS = 500  # the table lists at most this many ticks (the counts cover them all)


def _when(text: str) -> str:
    text = str(text or "").strip()
    if not text:
        raise ActionError("start and end are required (a date like 2019-01-01 or an RFC 3339 time)")
    try:
        return sn.iso(datetime.now(UTC).replace(microsecond=0) if text == "now" else sn.parse_time(text))
    except ValueError as exc:
        raise ActionError(f"{text!r} is not a date or RFC 3339 time: {exc}") from None


def backfill_request(raw: dict[str, Any]) -> dict[str, Any]:
    """The spec.backfill of a dialog submission, validated by the CRD's own model (one-line errors)."""
    from pydantic import ValidationError

    max_active = raw.get("maxActive")
    body = {"start": _when(raw.get("start", "")), "end": _when(raw.get("end", "")),
            "reprocess": raw.get("reprocess") or "missing", "maxActive": 1 if max_active in (None, "") else max_active,
            "order": raw.get("order") or "oldest-first", "paused": bool(raw.get("paused")),
            "inputs": raw.get("inputs") or {}, "labels": raw.get("labels") or {}}
    try:
        return BackfillSpec.model_validate(body).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ActionError(f"backfill.{where}: {err['msg']}", field=where) from None


def cluster_backfill(src: ClusterSource, key: str, raw: dict[str, Any], dry: bool) -> dict[str, Any]:
    trigger = src._get("crontriggers", key)
    ns, _, name = key.partition("/")
    backfill = backfill_request(raw)
    spec = trigger.get("spec") or {}
    try:
        cron = Cron(spec["cron"], spec.get("timezone") or "UTC")
        check_backfill(backfill, datetime.now(UTC))
        ticks = backfill_ticks(cron, sn.parse_time(backfill["start"]), sn.parse_time(backfill["end"]),
                               backfill["order"])
    except (CronError, ValueError) as exc:
        raise ActionError(str(exc)) from None
    items = src.custom.list_namespaced_custom_object(GROUP, VERSION, ns, "executions",
                                                     label_selector=f"{sn.L_TRIGGER}={sn.label_value(name)}")
    runs = [r for r in map(run_of, items.get("items") or []) if r is not None]
    decisions = dry_run(ticks, by_tick(runs), backfill_id(backfill), backfill["reprocess"])
    rows = [{"tick": cron.local(d.tick).isoformat(), "action": d.action, "why": d.why,
             "execution": sn.execution_name(name, d.tick, cron.seconds, d.attempt) if d.action == "run" else ""}
            for d in decisions]
    result = {"ticks": rows[:SHOWN_TICKS], "total": len(rows), "run": sum(r["action"] == "run" for r in rows),
              "backfill": backfill, "applied": False}
    if not dry:
        patch = {"spec": {"backfill": {**backfill, "inputs": backfill["inputs"] or None,
                                       "labels": backfill["labels"] or None}}}
        src.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "crontriggers", name, patch)
        result["applied"] = True
    return result

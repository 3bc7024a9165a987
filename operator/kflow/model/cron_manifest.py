"""`kflow validate` on CronTrigger manifests: the spec's schema and its cron, with the scheduler's parser."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kflow.errors import Problem


def crontrigger_problems(doc: dict[str, Any], prefix: str = "") -> list[Problem]:
    from kflow.k8s.models import CronTriggerSpec
    from kflow.schedule.cron import Cron, CronError, zone

    at = f"{prefix}spec"
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [Problem(at, "a CronTrigger needs a `spec` map (flowRef, cron, ...)")]
    problems: list[Problem] = []
    try:
        CronTriggerSpec.model_validate(spec)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(Problem(f"{at}.{loc}", err["msg"].removeprefix("Value error, ")))
    if isinstance(spec.get("cron"), str):
        try:
            Cron(spec["cron"], "UTC")
        except CronError as exc:
            problems.append(Problem(f"{at}.cron", str(exc)))
    try:
        zone(str(spec.get("timezone") or "UTC"))
    except CronError as exc:
        problems.append(Problem(f"{at}.timezone", str(exc)))
    backfill = spec.get("backfill")
    if isinstance(backfill, dict):
        dates = {}
        for key in ("start", "end"):
            try:
                dates[key] = datetime.fromisoformat(str(backfill.get(key)).replace("Z", "+00:00"))
            except ValueError:
                problems.append(Problem(f"{at}.backfill.{key}", f"expected an RFC 3339 instant, got "
                                                               f"{backfill.get(key)!r}"))
        if len(dates) == 2 and dates["start"] > dates["end"]:
            problems.append(Problem(f"{at}.backfill", "start is after end"))
    return problems

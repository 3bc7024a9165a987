"""ISO-8601 durations as Kestra accepts them (`PT5M`, `PT0.25S`, `P1DT2H`; no W/M/Y designators)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^(?P<sign>[-+]?)P(?:(?P<days>[-+]?\d+)D)?"
    r"(?:T(?:(?P<hours>[-+]?\d+)H)?(?:(?P<minutes>[-+]?\d+)M)?(?:(?P<seconds>[-+]?\d+(?:[.,]\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration; raise ValueError with the expected form otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 duration such as PT5M, got {text!r}")
    m = _DURATION.match(text.strip())
    if not m or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"expected an ISO-8601 duration such as PT5M or PT0.5S, got {text!r}")
    parts = {k: float((v or "0").replace(",", ".")) for k, v in m.groupdict().items() if k != "sign"}
    try:
        td = timedelta(days=parts["days"], hours=parts["hours"], minutes=parts["minutes"], seconds=parts["seconds"])
    except OverflowError:  # PT99999999999999999999H: timedelta's range is about 2.7 million years
        raise ValueError(f"duration out of range, got {text!r}") from None
    return -td if m.group("sign") == "-" else td


def format_duration(td: timedelta) -> str:
    total = td.total_seconds()
    if total == 0:
        return "PT0S"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rem = divmod(total, 3600)
    minutes, seconds = divmod(rem, 60)
    out = f"{sign}PT"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    if seconds:
        out += f"{seconds:g}S"
    return out

"""Java `DateTimeFormatter`-compatible formatting/parsing (English locale) for the `date` filters."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import locale_names
from .values import ExprError

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_LONG_ZONE_NAMES = {"UTC": "Coordinated Universal Time", "GMT": "Greenwich Mean Time", "Z": "Z"}

# Maximum letter counts (Java raises "Too many pattern letters" beyond them).
_MAX = {"G": 5, "u": 19, "y": 19, "Y": 19, "D": 3, "M": 5, "L": 5, "d": 2, "Q": 5, "q": 5, "w": 2, "W": 1,
        "E": 5, "e": 5, "c": 5, "F": 1, "a": 1, "h": 2, "K": 2, "k": 2, "H": 2, "m": 2, "s": 2, "S": 9,
        "A": 19, "n": 19, "N": 19, "V": 2, "z": 4, "O": 4, "X": 5, "x": 5, "Z": 5}
_KNOWN_UNSUPPORTED = set("pgBv")


# ---- zones --------------------------------------------------------------------------------------------

_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$")


@lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    if not name:
        return ZoneInfo("UTC")
    if name == "Z":
        return UTC
    m = _OFFSET_RE.match(name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        td = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0), seconds=int(m.group(4) or 0))
        return timezone(sign * td)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ExprError(f"Unknown time-zone ID: {name}") from e


def zone_id(tz: tzinfo | None, dt: datetime) -> str:
    key = getattr(tz, "key", None)
    if key:
        return key
    return _offset(dt.utcoffset(), "X", 5)


# ---- input conversion ---------------------------------------------------------------------------------

_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
_BRACKET_ZONE_RE = re.compile(r"\[([^\]]+)\]$")


def to_datetime(value: Any, tz: tzinfo, existing_format: str | None = None) -> datetime:
    """Kestra `AbstractDate.convert`: date-like input ⇒ an aware datetime in `tz` (same instant)."""
    if isinstance(value, datetime):
        return value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, bool) or value is None:
        raise ExprError(f"Unable to parse date '{value}'")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz)
    if not isinstance(value, str):
        raise ExprError(f"Unable to convert value of type {type(value).__name__} to a date")
    if existing_format:
        return parse_pattern(value, existing_format, tz)
    s = value.strip()
    region = None
    m = _BRACKET_ZONE_RE.search(s)
    if m:
        region = zone(m.group(1))
        s = s[: m.start()]
    s = _FRACTION_RE.sub(r"\1", s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        if re.fullmatch(r"-?\d+", s):
            return datetime.fromtimestamp(int(s), tz)
        raise ExprError(f"Unable to parse date '{value}'") from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=region or tz).astimezone(tz)
    return dt.astimezone(tz)


# ---- pattern compilation -------------------------------------------------------------------------------

Item = tuple[str, int] | str  # (letter, count) or literal text


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> tuple[Item, ...]:
    items: list[Item] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise ExprError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(pattern[j])
                j += 1
            items.append("".join(buf) if buf or j > i + 1 else "'")
            i = j + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            count = j - i
            if c in _KNOWN_UNSUPPORTED:
                raise ExprError(f"Unsupported pattern letter: {c}")
            if c not in _MAX:
                raise ExprError(f"Unknown pattern letter: {c}")
            if count > _MAX[c]:
                raise ExprError(f"Too many pattern letters: {c}")
            if c == "V" and count != 2:
                raise ExprError("Pattern letter count must be 2: V")
            items.append((c, count))
            i = j
        elif c in "[]":
            i += 1  # optional sections: when formatting, every field we know is available
        elif c in "#{}":
            raise ExprError(f"Pattern includes reserved character: '{c}'")
        else:
            items.append(c)
            i += 1
    return tuple(items)


def _pad(v: int, width: int) -> str:
    return f"-{-v:0{width}d}" if v < 0 else f"{v:0{width}d}"


def _offset(off: timedelta | None, letter: str, count: int) -> str:
    secs = int(off.total_seconds()) if off is not None else 0
    sign = "-" if secs < 0 else "+"
    a = abs(secs)
    hh, mm, ss = a // 3600, (a % 3600) // 60, a % 60
    if letter in "XxZ" and not (letter == "Z" and count == 4):
        if secs == 0 and (letter == "X" or (letter == "Z" and count == 5)):
            return "Z"
        if letter == "Z":
            if count <= 3:
                return f"{sign}{hh:02d}{mm:02d}" + (f"{ss:02d}" if ss else "")
            return f"{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")
        if count == 1:
            return f"{sign}{hh:02d}" + (f"{mm:02d}" if mm else "")
        if count == 2:
            return f"{sign}{hh:02d}{mm:02d}"
        if count == 3:
            return f"{sign}{hh:02d}:{mm:02d}"
        if count == 4:
            return f"{sign}{hh:02d}{mm:02d}" + (f"{ss:02d}" if ss else "")
        return f"{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")
    # localized: O / OOOO / ZZZZ
    if secs == 0:
        return "GMT"
    if letter == "O" and count == 1:
        return f"GMT{sign}{hh}" + (f":{mm:02d}" if mm or ss else "") + (f":{ss:02d}" if ss else "")
    return f"GMT{sign}{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss else "")


def _us_week(d: date) -> tuple[int, int]:
    """Week-of-week-based-year for the US locale (weeks start Sunday, week 1 contains Jan 1)."""
    start = d - timedelta(days=(d.weekday() + 1) % 7)  # Sunday of d's week
    jan1_next = date(d.year + 1, 1, 1)
    if start + timedelta(days=6) >= jan1_next:
        return d.year + 1, 1
    jan1 = date(d.year, 1, 1)
    first = jan1 - timedelta(days=(jan1.weekday() + 1) % 7)
    return d.year, (start - first).days // 7 + 1


def _text(value: str, count: int) -> str:
    if count == 4:
        return value
    if count == 5:
        return value[0]
    return value[:3]


def _field(dt: datetime, letter: str, count: int) -> str:
    if letter in "yu":
        y = dt.year
        return f"{y % 100:02d}" if count == 2 else _pad(y, count)
    if letter == "Y":
        wy = _us_week(dt.date())[0]
        return f"{wy % 100:02d}" if count == 2 else _pad(wy, count)
    loc = locale_names.active() if letter in "MLEeca" else None
    if loc is not None and (count >= 3 or letter in "Ea"):
        if letter in "ML":
            return locale_names.month(loc, dt.month, count)
        if letter == "a":
            return locale_names.period(loc, dt.hour)
        return locale_names.day(loc, dt.weekday(), count)
    if letter in "ML":
        return _pad(dt.month, count) if count <= 2 else _text(MONTHS[dt.month - 1], count)
    if letter == "d":
        return _pad(dt.day, count)
    if letter == "D":
        return _pad(dt.timetuple().tm_yday, count)
    if letter in "Qq":
        q = (dt.month - 1) // 3 + 1
        return {1: str(q), 2: f"0{q}", 3: f"Q{q}", 4: f"{['1st', '2nd', '3rd', '4th'][q - 1]} quarter",
                5: str(q)}[count]
    if letter == "w":
        return _pad(_us_week(dt.date())[1], count)
    if letter == "W":
        first = dt.replace(day=1).date()
        offset = (first.weekday() + 1) % 7
        return str((dt.day + offset - 1) // 7 + 1)
    if letter == "F":
        return str((dt.day - 1) // 7 + 1)
    if letter == "E":
        return _text(DAYS[dt.weekday()], count)
    if letter in "ec":
        if count <= 2:
            return _pad((dt.weekday() + 1) % 7 + 1, count)
        return _text(DAYS[dt.weekday()], count)
    if letter == "a":
        return "AM" if dt.hour < 12 else "PM"
    if letter == "H":
        return _pad(dt.hour, count)
    if letter == "k":
        return _pad(dt.hour or 24, count)
    if letter == "K":
        return _pad(dt.hour % 12, count)
    if letter == "h":
        return _pad(dt.hour % 12 or 12, count)
    if letter == "m":
        return _pad(dt.minute, count)
    if letter == "s":
        return _pad(dt.second, count)
    if letter == "S":
        return f"{dt.microsecond:06d}000"[:count]
    if letter == "n":
        return _pad(dt.microsecond * 1000, count)
    if letter == "N":
        return _pad(_nano_of_day(dt), count)
    if letter == "A":
        return _pad(_nano_of_day(dt) // 1_000_000, count)
    if letter == "G":
        return {4: "Anno Domini", 5: "A"}.get(count, "AD")
    if letter == "V":
        return zone_id(dt.tzinfo, dt)
    if letter == "z":
        name = dt.tzname() or zone_id(dt.tzinfo, dt)
        return _LONG_ZONE_NAMES.get(name, name) if count == 4 else name
    return _offset(dt.utcoffset(), letter, count)


def _nano_of_day(dt: datetime) -> int:
    return ((dt.hour * 60 + dt.minute) * 60 + dt.second) * 1_000_000_000 + dt.microsecond * 1000


def format_pattern(dt: datetime, pattern: str) -> str:
    return "".join(it if isinstance(it, str) else _field(dt, it[0], it[1]) for it in compile_pattern(pattern))


# ---- named (ISO) formats ---------------------------------------------------------------------------------

def _frac(dt: datetime, groups_of_three: bool = False) -> str:
    if not dt.microsecond:
        return ""
    f = f"{dt.microsecond:06d}"
    if groups_of_three:
        return "." + (f[:3] if f.endswith("000") else f)
    return "." + f.rstrip("0")


def _iso_time(dt: datetime) -> str:
    return f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}{_frac(dt)}"


def _iso_date(dt: datetime) -> str:
    return f"{_pad(dt.year, 4)}-{dt.month:02d}-{dt.day:02d}"


def _iso_offset(dt: datetime) -> str:
    return _offset(dt.utcoffset(), "X", 5)


def _region(dt: datetime) -> str:
    key = getattr(dt.tzinfo, "key", None)
    return f"[{key}]" if key else ""


def _instant(dt: datetime) -> str:
    u = dt.astimezone(UTC)
    return f"{_iso_date(u)}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}{_frac(u, True)}Z"


def _rfc1123(dt: datetime) -> str:
    off = dt.utcoffset()
    zone_txt = "GMT" if not off else _offset(off, "Z", 1)
    return (f"{DAYS[dt.weekday()][:3]}, {dt.day} {MONTHS[dt.month - 1][:3]} {dt.year} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} {zone_txt}")


def _week_date(dt: datetime) -> str:
    y, w, d = dt.isocalendar()
    return f"{y}-W{w:02d}-{d}{_iso_offset(dt)}"


NAMED: dict[str, str | Callable[[datetime], str]] = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso8601": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
    "iso_date_time": lambda d: f"{_iso_date(d)}T{_iso_time(d)}{_iso_offset(d)}{_region(d)}",
    "iso_zoned_date_time": lambda d: f"{_iso_date(d)}T{_iso_time(d)}{_iso_offset(d)}{_region(d)}",
    "iso_offset_date_time": lambda d: f"{_iso_date(d)}T{_iso_time(d)}{_iso_offset(d)}",
    "iso_local_date_time": lambda d: f"{_iso_date(d)}T{_iso_time(d)}",
    "iso_date": lambda d: f"{_iso_date(d)}{_iso_offset(d)}",
    "iso_offset_date": lambda d: f"{_iso_date(d)}{_iso_offset(d)}",
    "iso_local_date": _iso_date,
    "iso_time": lambda d: f"{_iso_time(d)}{_iso_offset(d)}",
    "iso_offset_time": lambda d: f"{_iso_time(d)}{_iso_offset(d)}",
    "iso_local_time": _iso_time,
    "iso_instant": _instant,
    "iso_ordinal_date": lambda d: f"{d.year}-{d.timetuple().tm_yday:03d}{_iso_offset(d)}",
    "iso_week_date": _week_date,
    "basic_iso_date": lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}{_offset(d.utcoffset(), 'X', 2)}",
    "rfc_1123_date_time": _rfc1123,
    "short": "M/d/yy, h:mm a",
    "medium": "MMM d, y, h:mm:ss a",
    "long": "MMMM d, y 'at' h:mm:ss a z",
    "full": "EEEE, MMMM d, y 'at' h:mm:ss a zzzz",
}


def format_date(dt: datetime, fmt: str | None, locale: str | None = None) -> str:
    if locale:
        token = locale_names.CURRENT.set(str(locale))
        try:
            return format_date(dt, fmt)
        finally:
            locale_names.CURRENT.reset(token)
    fmt = fmt or "iso"
    named = NAMED.get(fmt.lower()) if fmt.isascii() and re.fullmatch(r"[A-Za-z0-9_]+", fmt) else None
    if named is None:
        return format_pattern(dt, fmt)
    return named(dt) if callable(named) else format_pattern(dt, named)


# ---- parsing with an explicit pattern (existingFormat) -------------------------------------------------

_NUM_WIDTH = {"y": 9, "u": 9, "Y": 9, "M": 2, "L": 2, "d": 2, "D": 3, "H": 2, "h": 2, "k": 2, "K": 2, "m": 2,
              "s": 2, "w": 2, "e": 1, "c": 1, "Q": 1, "q": 1, "W": 1, "F": 1}
_OFFSET_RX = r"Z|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?"


@lru_cache(maxsize=256)
def _parse_regex(pattern: str) -> tuple[re.Pattern[str], tuple[tuple[str, int], ...]]:
    parts: list[str] = []
    fields: list[tuple[str, int]] = []
    for it in compile_pattern(pattern):
        if isinstance(it, str):
            parts.append(re.escape(it))
            continue
        letter, count = it
        if letter in "ML" and count >= 3:
            names = [m if count == 4 else m[:3] for m in MONTHS]
            rx = "|".join(names)
        elif letter in "Eec" and (letter == "E" or count >= 3):
            rx = "|".join(DAYS if count == 4 else [d[:3] for d in DAYS])
        elif letter == "a":
            rx = "AM|PM|am|pm"
        elif letter == "S":
            rx = rf"\d{{{count}}}"
        elif letter in "XxZO":
            rx = r"GMT(?:[+-]\d{1,2}(?::\d{2})?)?|" + _OFFSET_RX
        elif letter in "Vz":
            rx = r"[A-Za-z_][A-Za-z0-9_/+\-]*"
        elif letter == "G":
            rx = "AD|BC|Anno Domini"
        elif letter in _NUM_WIDTH:
            rx = rf"\d{{1,{_NUM_WIDTH[letter]}}}" if count == 1 else rf"\d{{{count}}}"
            if letter in "yuY" and count in (1, 4):
                rx = r"[+-]?\d{4,9}" if count == 4 else r"[+-]?\d{1,9}"
        else:
            raise ExprError(f"Pattern letter '{letter}' is not supported for parsing")
        parts.append(f"({rx})")
        fields.append((letter, count))
    return re.compile("".join(parts), re.IGNORECASE), tuple(fields)


def parse_pattern(value: str, pattern: str, tz: tzinfo) -> datetime:
    rx, fields = _parse_regex(pattern)
    m = rx.fullmatch(value.strip())
    if not m:
        raise ExprError(f"Text '{value}' could not be parsed with format '{pattern}'")
    vals: dict[str, Any] = {}
    src_zone: tzinfo | None = None
    pm: bool | None = None
    for (letter, count), text in zip(fields, m.groups(), strict=True):
        if letter in "yu":
            y = int(text)
            vals["year"] = 2000 + y if count == 2 else y
        elif letter in "ML":
            vals["month"] = int(text) if count <= 2 else [x[: len(text)].lower() for x in MONTHS].index(
                text.lower()) + 1
        elif letter == "d":
            vals["day"] = int(text)
        elif letter == "D":
            vals["doy"] = int(text)
        elif letter in "Hk":
            vals["hour"] = int(text) % 24
        elif letter in "hK":
            vals["hour12"] = int(text) % 12
        elif letter == "a":
            pm = text.upper() == "PM"
        elif letter == "m":
            vals["minute"] = int(text)
        elif letter == "s":
            vals["second"] = int(text)
        elif letter == "S":
            vals["micro"] = int((text + "000000")[:6])
        elif letter in "XxZO":
            t = text.upper().removeprefix("GMT")
            src_zone = UTC if t in ("Z", "") else zone(t)
        elif letter in "Vz":
            src_zone = zone(text)
    if "year" not in vals:
        raise ExprError(f"Text '{value}' could not be parsed with format '{pattern}': no date")
    hour = vals.get("hour", 0)
    if "hour12" in vals:
        hour = vals["hour12"] + (12 if pm else 0)
    try:
        if "doy" in vals and "month" not in vals:
            base = date(vals["year"], 1, 1) + timedelta(days=vals["doy"] - 1)
        else:
            base = date(vals["year"], vals.get("month", 1), vals.get("day", 1))
        dt = datetime(base.year, base.month, base.day, hour, vals.get("minute", 0), vals.get("second", 0),
                      vals.get("micro", 0), tzinfo=src_zone or tz)
    except ValueError as e:
        raise ExprError(f"Text '{value}' could not be parsed: {e}") from None
    return dt.astimezone(tz)


# ---- arithmetic ------------------------------------------------------------------------------------------

_TIME_UNITS = {"NANOS": 1e-9, "MICROS": 1e-6, "MILLIS": 1e-3, "SECONDS": 1, "MINUTES": 60, "HOURS": 3600,
               "HALF_DAYS": 43200}
_MONTH_UNITS = {"MONTHS": 1, "YEARS": 12, "DECADES": 120, "CENTURIES": 1200, "MILLENNIA": 12000}


def add(dt: datetime, amount: int, unit: str) -> datetime:
    u = str(unit).upper()
    if u in _TIME_UNITS:
        utc = dt.astimezone(UTC) + timedelta(seconds=amount * _TIME_UNITS[u])
        return utc.astimezone(dt.tzinfo)
    if u in ("DAYS", "WEEKS"):
        local = dt.replace(tzinfo=None) + timedelta(days=amount * (7 if u == "WEEKS" else 1))
        return local.replace(tzinfo=dt.tzinfo)
    if u in _MONTH_UNITS:
        total = dt.year * 12 + dt.month - 1 + amount * _MONTH_UNITS[u]
        y, mo = divmod(total, 12)
        day = min(dt.day, calendar.monthrange(y, mo + 1)[1])
        return dt.replace(year=y, month=mo + 1, day=day)
    raise ExprError(f"Unknown ChronoUnit '{unit}'")


def epoch(dt: datetime, scale: int) -> int:
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if scale >= 1_000_000:
        return micros * (scale // 1_000_000)
    return micros // (1_000_000 // scale)

"""Month, day and AM/PM names of a locale for `date(..., locale=...)`, from CLDR via babel (Java's
DateTimeFormatter uses CLDR data too). English stays on dates.py's own tables."""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from .values import ExprError

CURRENT: ContextVar[str | None] = ContextVar("kflow_date_locale", default=None)

_WIDTH = {3: "abbreviated", 4: "wide", 5: "narrow"}


@lru_cache(maxsize=64)
def _locale(tag: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise ExprError(f"date: unknown locale `{tag}`") from None


def active() -> Any:
    tag = CURRENT.get()
    if not tag or tag.replace("-", "_").lower() in ("en", "en_us", "en_gb", "root"):
        return None
    return _locale(tag)


def month(loc: Any, number: int, count: int) -> str:
    return loc.months["format"][_WIDTH.get(count, "abbreviated")][number]


def day(loc: Any, weekday: int, count: int) -> str:
    return loc.days["format"][_WIDTH.get(count, "abbreviated")][weekday]


def period(loc: Any, hour: int) -> str:
    return loc.day_periods["format"]["abbreviated"]["am" if hour < 12 else "pm"]

"""Property types shared by flow and task models."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kflow.model.durations import parse_duration


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _check_duration(value: str) -> str:
    if not is_template(value):
        parse_duration(value)
    return value


# An ISO-8601 duration, or an expression rendered at run time.
Duration = Annotated[str, AfterValidator(_check_duration)]


class Strict(BaseModel):
    """Kestra parses flows strictly: an unknown property is an error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


class Retry(Strict):
    type: Literal["constant", "exponential", "random"]
    interval: Duration | None = None
    maxInterval: Duration | None = None
    minInterval: Duration | None = None
    delayFactor: float | None = None
    maxAttempts: int | None = Field(default=None, ge=1)
    maxAttempt: int | None = Field(default=None, ge=1)
    maxDuration: Duration | None = None
    warningOnRetry: bool = False
    behavior: Literal["RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION"] = "RETRY_FAILED_TASK"

    @model_validator(mode="after")
    def _required(self) -> Retry:
        need = {"constant": ["interval"], "exponential": ["interval", "maxInterval"],
                "random": ["minInterval", "maxInterval"]}[self.type]
        missing = [n for n in need if getattr(self, n) is None]
        if self.attempts_limit is None and self.maxDuration is None:
            raise ValueError("retry requires maxAttempts (or maxDuration) so that it ends")
        if missing:
            raise ValueError(f"retry of type {self.type} requires {', '.join(missing)}")
        iv = self._td(self.interval)
        if iv is not None and self._td(self.maxDuration) is not None and iv >= self._td(self.maxDuration):
            raise ValueError("'interval' must be less than 'maxDuration'")
        if iv is not None and self._td(self.maxInterval) is not None and iv > self._td(self.maxInterval):
            raise ValueError("'interval' must be less than 'maxInterval'")
        lo, hi = self._td(self.minInterval), self._td(self.maxInterval)
        if self.type == "random" and lo is not None and hi is not None and lo > hi:
            raise ValueError("'minInterval' must be less than 'maxInterval'")
        return self

    @staticmethod
    def _td(value: str | None) -> timedelta | None:
        return None if value is None or is_template(value) else parse_duration(value)

    @property
    def attempts_limit(self) -> int | None:
        # Kestra >=0.24 reads maxAttempts and keeps maxAttempt as its deprecated spelling.
        return self.maxAttempts if self.maxAttempts is not None else self.maxAttempt


def normalize_labels(value: Any) -> dict[str, str]:
    """Labels come as a map or as a list of {key, value}; values are strings."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): _label_text(v) for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, str] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"key", "value"}:
                raise ValueError(f"labels[{i}] must be a map with exactly `key` and `value`")
            out[str(item["key"])] = _label_text(item["value"])
        return out
    raise ValueError("labels must be a map or a list of {key, value}")


def _label_text(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else "" if v is None else str(v)

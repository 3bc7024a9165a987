"""Flow `sla` (Kestra >= 0.20): MAX_DURATION and EXECUTION_ASSERTION, enforced by the engine."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kflow.model.common import Duration, Strict, normalize_labels


class SLA(Strict):
    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
    type: Literal["MAX_DURATION", "EXECUTION_ASSERTION"]
    behavior: Literal["FAIL", "CANCEL", "NONE"] = "FAIL"
    labels: dict[str, str] = Field(default_factory=dict)
    duration: Duration | None = None
    assert_: str | None = Field(default=None, alias="assert")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> dict[str, str]:
        return normalize_labels(value)

    @model_validator(mode="after")
    def _by_type(self) -> SLA:
        if self.type == "MAX_DURATION" and self.duration is None:
            raise ValueError("SLA of type `MAX_DURATION` must have a duration")
        if self.type == "EXECUTION_ASSERTION" and self.assert_ is None:
            raise ValueError("SLA of type `EXECUTION_ASSERTION` must have an assert")
        return self

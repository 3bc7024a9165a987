from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kflow.expr import Renderer

FIXED_NOW = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(secrets={"SECRET_TOKEN": "czNjcjN0", "SECRET_MULTI": "bGluZTEKbGluZTI="},
                    now=lambda: FIXED_NOW)


@pytest.fixture
def ctx() -> dict:
    return {
        "flow": {"id": "hello", "namespace": "company.team", "revision": 3},
        "execution": {"id": "exec1", "startDate": "2024-01-01T10:00:00.123456Z"},
        "inputs": {"taxi": "yellow", "year": 2021, "month": "01", "optional": None, "flag": True,
                   "names": ["a", "b", "c"], "num": 3},
        "vars": {
            "file": "{{inputs.taxi}}_tripdata_{{trigger.date | date('yyyy-MM')}}.csv",
            "nested": "{{ render(vars.file) }}",
            "greeting": "hello {{ inputs.taxi }}",
            "chain": "{{ vars.greeting }}!",
        },
        "trigger": {"date": "2021-01-01T09:00:00Z"},
        "outputs": {
            "q": {"rows": [{"a": 1}, {"a": 2}], "size": 2, "ratio": 1.0, "name": "é"},
            "extract": {"outputFiles": {"yellow_x.csv": "kestra:///f/yellow_x.csv"}},
            "loop": {"v1": {"value": "one"}, "v2": {"value": "two"}},
        },
        "taskrun": {"value": "v1"},
        "parents": [],
        "labels": {"team": "data"},
    }

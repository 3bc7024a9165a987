"""The UI's pure pieces: previews of stored files, the executions filters, backfill requests."""

from __future__ import annotations

import json

import pytest

from kflow.tasks.ion import write_rows
from kflow.ui import views
from kflow.ui.backfill import backfill_request
from kflow.ui.sources import ActionError, filter_logs, log_lines


def test_previews_of_ion_csv_json_and_text(tmp_path):
    ion = tmp_path / "result.ion"
    with open(ion, "w") as f:
        write_rows(f, [{"brand": "Knoll", "avg_price": 1117.5}, {"brand": "Dior", "avg_price": 87.28}])
    assert views.preview_file(ion) == {"kind": "table", "columns": ["brand", "avg_price"],
                                       "rows": [["Knoll", 1117.5], ["Dior", 87.28]], "truncated": False}
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(150)))
    out = views.preview_file(csv)
    assert out["columns"] == ["a", "b"] and len(out["rows"]) == 100 and out["truncated"]
    products = tmp_path / "data.json"
    products.write_text(json.dumps({"products": [{"brand": "x", "price": 1}], "total": 1}))
    assert views.preview_file(products)["rows"] == [["x", 1]]  # the first list of records of an object
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert views.preview_file(text) == {"kind": "text", "text": "hello", "truncated": False}
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert views.preview_file(bad)["kind"] == "error" and "bad.json" in views.preview_file(bad)["message"]


def test_execution_filters():
    row = {"namespace": "zoomcamp", "flowId": "taxi", "state": "FAILED", "labels": {"taxi": "green"},
           "startDate": "2019-02-01T09:00:00.000000Z"}
    assert views.matches(row, flow="zoomcamp.taxi") and views.matches(row, flow="tax")
    assert not views.matches(row, flow="hello")
    assert views.matches(row, state="FAILED,KILLED") and not views.matches(row, state="SUCCESS")
    assert views.matches(row, label="taxi=green") and views.matches(row, label="taxi")
    assert not views.matches(row, label="taxi=yellow")
    assert views.matches(row, since="2019-02-01", until="2019-02-01")
    assert not views.matches(row, since="2019-02-02") and not views.matches(row, until="2019-01-31")


def test_log_lines_and_level_filter():
    tr = {"id": "t", "taskId": "t"}
    text = 'plain line\n::{"logs": [{"level": "warning", "message": "careful"}]}::\n::{"outputs": {"a": 1}}::'
    lines = log_lines(tr, text)
    assert [(e["level"], e["message"]) for e in lines] == [("INFO", "plain line"), ("WARN", "careful")]
    assert [e["message"] for e in filter_logs(lines, "WARN")] == ["careful"]
    assert filter_logs(lines, None) == lines


def test_backfill_request_is_checked_by_the_crd_model():
    req = backfill_request({"start": "2019-01-01", "end": "2019-03-31", "maxActive": 2})
    assert req["start"] == "2019-01-01T00:00:00Z" and req["reprocess"] == "missing" and req["maxActive"] == 2
    with pytest.raises(ActionError, match=r"backfill\.maxActive"):
        backfill_request({"start": "2019-01-01", "end": "2019-02-01", "maxActive": 0})
    with pytest.raises(ActionError, match=r"backfill\.reprocess"):
        backfill_request({"start": "2019-01-01", "end": "2019-02-01", "reprocess": "some"})
    with pytest.raises(ActionError, match="not a date"):
        backfill_request({"start": "january", "end": "2019-02-01"})

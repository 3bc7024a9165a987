"""Outputs spilled to ConfigMaps: one write per ConfigMap per status write, not one per task run (pure)."""

from __future__ import annotations

import asyncio
from typing import Any

from test_status_size import NAME, _big_execution

from kflow.k8s import execution_status
from kflow.k8s import naming as n
from kflow.k8s.execution_status import StatusWriter

BODY = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution",
        "metadata": {"name": NAME, "namespace": "t", "uid": "u1"}}


class FakeKube:
    def __init__(self, existing: set[str] = frozenset(), fail: bool = False):
        self.maps: dict[str, dict[str, str]] = {name: {} for name in existing}
        self.calls: list[tuple[str, str, int]] = []
        self.fail = fail

    async def create(self, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        name = obj["metadata"]["name"]
        self.calls.append(("create", name, len(obj.get("data") or {})))
        if self.fail:
            raise RuntimeError("API down")
        if name in self.maps:
            return obj, False
        self.maps[name] = dict(obj.get("data") or {})
        return obj, True

    async def patch_config_map(self, ns: str, name: str, data: dict[str, str]) -> None:
        self.calls.append(("patch", name, len(data)))
        self.maps[name].update(data)


def _writer(kube: FakeKube) -> StatusWriter:
    w = StatusWriter()
    w.kube, w.ns, w.name = kube, "t", NAME
    w.chunks, w.spilled, w.outputs_of = {}, {}, {}
    return w


def test_two_thousand_spilled_outputs_take_one_write_per_config_map(monkeypatch):
    monkeypatch.setattr(execution_status, "CHUNK_BYTES", 40 * 1024)  # several ConfigMaps
    _, ex, _ = _big_execution(1999)
    kube = FakeKube()
    w = _writer(kube)
    inline = asyncio.run(w._spill(BODY, ex))
    spilled = {tr.id for tr in ex.taskRuns if tr.outputs} - set(inline)
    assert len(spilled) > 1500
    assert len(kube.calls) == len(kube.maps) > 1, kube.calls  # each ConfigMap created with its outputs
    assert all(kind == "create" for kind, _, _ in kube.calls)
    assert set(w.spilled) == spilled and sum(len(d) for d in kube.maps.values()) == len(spilled)
    assert all(w.chunks[name] < 40 * 1024 for name in kube.maps)
    assert asyncio.run(w._spill(BODY, ex)) == inline and len(kube.calls) == len(kube.maps)  # nothing new


def test_a_config_map_left_by_an_earlier_pass_is_patched(monkeypatch):
    _, ex, _ = _big_execution(1999)
    first = n.dns_label(f"{NAME}-outputs-0")
    kube = FakeKube(existing={first})
    w = _writer(kube)
    asyncio.run(w._spill(BODY, ex))
    assert kube.calls[:2] == [("create", first, kube.calls[0][2]), ("patch", first, kube.calls[0][2])]
    assert kube.maps[first]


def test_a_failed_write_records_nothing():
    _, ex, _ = _big_execution(1999)
    kube = FakeKube(fail=True)
    w = _writer(kube)
    try:
        asyncio.run(w._spill(BODY, ex))
    except RuntimeError:
        pass
    assert w.chunks == {} and w.spilled == {}

"""Task types by Kestra type name, old aliases included.

A task pod needs one task type, and importing every task module costs it ~0.6 s of CPU (PostgreSQL,
DuckDB, cloud clients...), most of a short pod's start. `index.json` maps each type name and alias to its
module, so `task_class` imports only that one; `python -m kflow.tasks.registry` rewrites the index, and a
test fails when it is stale. A name the index does not know loads every module (a new module's types).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from kflow.tasks.base import Task

TASK_TYPES: dict[str, type[Task]] = {}
ALIASES: dict[str, str] = {}
INDEX_FILE = Path(__file__).with_name("index.json")
_index: dict[str, list[str]] | None = None  # name -> [canonical type, module]


def register(*aliases: str):
    def deco(cls: type[Task]) -> type[Task]:
        TASK_TYPES[cls.TYPE] = cls
        for alias in aliases:
            ALIASES[alias] = cls.TYPE
        return cls

    return deco


def _known() -> dict[str, list[str]]:
    global _index
    if _index is None:
        try:
            _index = json.loads(INDEX_FILE.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _index = {}
    return _index


def canonical_type(name: str) -> str:
    entry = _known().get(name)
    return entry[0] if entry else ALIASES.get(name, name)


def task_class(name: str) -> type[Task] | None:
    entry = _known().get(name)
    if entry is not None and entry[0] not in TASK_TYPES:
        importlib.import_module(entry[1])
    if entry is None or entry[0] not in TASK_TYPES:
        _load_all()
    return TASK_TYPES.get(canonical_type(name))


_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import pkgutil

        import kflow.tasks

        for info in pkgutil.walk_packages(kflow.tasks.__path__, prefix="kflow.tasks."):
            importlib.import_module(info.name)


def build_index() -> dict[str, list[str]]:
    _load_all()
    out = {name: [name, cls.__module__] for name, cls in TASK_TYPES.items()}
    out.update({alias: [target, TASK_TYPES[target].__module__] for alias, target in ALIASES.items()})
    return dict(sorted(out.items()))


def index_text() -> str:
    return json.dumps(build_index(), indent=1) + "\n"


if __name__ == "__main__":  # run as a script this file is a second module: use the one tasks register in
    from kflow.tasks import registry

    registry.INDEX_FILE.write_text(registry.index_text(), encoding="utf-8")
    print(registry.INDEX_FILE)

"""Task types by Kestra type name, old aliases included."""

from __future__ import annotations

from kflow.tasks.base import Task

TASK_TYPES: dict[str, type[Task]] = {}
ALIASES: dict[str, str] = {}


def register(*aliases: str):
    def deco(cls: type[Task]) -> type[Task]:
        TASK_TYPES[cls.TYPE] = cls
        for alias in aliases:
            ALIASES[alias] = cls.TYPE
        return cls

    return deco


def canonical_type(name: str) -> str:
    return ALIASES.get(name, name)


def task_class(name: str) -> type[Task] | None:
    _load_all()
    return TASK_TYPES.get(canonical_type(name))


_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import kflow.tasks  # noqa: F401  (its imports register every module)

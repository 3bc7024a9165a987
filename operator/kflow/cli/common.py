"""Shared pieces of the `kflow` verbs: exit codes, `-i`/`-l` parsing, the one-line error type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class CliError(Exception):
    """A user-facing failure: `main` prints `kflow <verb>: <message>` on one line and exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_INVALID):
        super().__init__(message)
        self.code = code


def parse_pairs(pairs: list[str], option: str = "-i") -> dict[str, Any]:
    """`name=value` pairs of a repeatable option, in order; a pair without `=` or a name is invalid input."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"{option} expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def read_plugin_defaults(path: str | None) -> list[dict[str, Any]] | None:
    """The global plugin defaults file of `--plugin-defaults` (a YAML list of {type, values, forced})."""
    from kflow.errors import FlowInvalid
    from kflow.model.yamlio import load_yaml

    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read file: {exc.strerror}") from None
    try:
        defaults = load_yaml(text, path) or []
    except FlowInvalid as exc:
        raise CliError("\n".join(exc.lines())) from None
    if not isinstance(defaults, list) or not all(isinstance(d, dict) for d in defaults):
        raise CliError(f"{path}: expected a YAML list of {{type, values, forced}} maps")
    return defaults


def load_flow(path: str, plugin_defaults: str | None = None,
              defaults: list[dict[str, Any]] | None = None) -> Any:
    """The flow of a file (LoadedFlow), or a CliError naming the file and every problem in it."""
    from kflow.errors import FlowInvalid
    from kflow.model.loader import load_flow_file

    if defaults is None:
        defaults = read_plugin_defaults(plugin_defaults)
    try:
        return load_flow_file(path, defaults)
    except FlowInvalid as exc:
        raise CliError("\n".join(exc.lines())) from None


def load_flow_source(text: str, source: str, defaults: list[dict[str, Any]] | None = None) -> Any:
    """A flow from text (the source a history record kept), errors as for `load_flow`."""
    from kflow.errors import FlowInvalid
    from kflow.model.loader import load_flow_text

    try:
        return load_flow_text(text, source, defaults)
    except FlowInvalid as exc:
        raise CliError("\n".join(exc.lines())) from None


def storage_root(args: Any) -> Path:
    from kflow.runner.local import default_storage_root

    # absolute: task processes run in their working directories
    return (Path(args.storage) if getattr(args, "storage", None) else default_storage_root()).absolute()


def parse_when(text: str, what: str = "date") -> datetime:
    """An ISO-8601 date or instant (no offset: UTC), or `now`."""
    if text == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{what}: expected an ISO-8601 date or date-time such as 2019-01-01T09:00:00, "
                       f"got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def parse_period(text: str) -> timedelta:
    """An ISO-8601 duration (P7D, PT12H) as Kestra writes them."""
    from kflow.model.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise CliError(f"expected an ISO-8601 duration such as P7D or PT12H, got {text!r}") from None


def check_inputs(declared: list[Any], given: dict[str, Any], where: str = "inputs") -> None:
    """What the command line adds to Kestra's input checks: a name the flow does not declare is a typo,
    and a BOOLEAN is `true` or `false` (Kestra reads anything else as false, silently)."""
    kinds = {inp.id: str(inp.type).upper() for inp in declared}
    for name, value in given.items():
        if name not in kinds:
            known = ", ".join(kinds) or "none"
            raise CliError(f"{where}.{name}: no such input (declared: {known})")
        if kinds[name] in ("BOOLEAN", "BOOL") and isinstance(value, str) \
                and value.strip().lower() not in ("true", "false"):
            raise CliError(f"{where}.{name}: expected true or false, got {value!r}")

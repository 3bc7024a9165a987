"""Pebble-compatible expression rendering (Kestra `{{ }}` templates) on a jinja2 sandbox.

Context hooks the engine may provide (plain keys of the context dict):
`__read(path)`, `__kv(key, namespace=None, errorOnMissing=False)`, `__fileExists/__fileSize/__fileEmpty(uri)`
(callables backing `read()`, `kv()`, ...), `__errorLogs` (list for `errorLogs()`), `tasks` (for
`tasksWithState()`), `taskrun.value` / `parents` (for `currentEachOutput()`), `flow.namespace` (`fileURI()`).
"""

from .renderer import Renderer, RenderError
from .values import truthy

__all__ = ["RenderError", "Renderer", "truthy"]

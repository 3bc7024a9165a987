"""Per-thread render state: the active Renderer, the `??` slot and the loop budget."""

from __future__ import annotations

import threading
from typing import Any

MAX_ITERATIONS = 1_000_000


class _State(threading.local):
    def __init__(self) -> None:
        self.renderer: Any = None
        self.slot: Any = None
        self.budget: int = MAX_ITERATIONS


STATE = _State()

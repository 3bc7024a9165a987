"""Flow outputs: rendered once the tasks ended, then typed like inputs of the same type."""

from __future__ import annotations

import json
from typing import Any

from kflow.model.inputs import Input, parse_input


def flow_output(renderer: Any, output: Any, ctx: dict[str, Any]) -> Any:
    value = renderer.render_value(output.value, ctx)
    if output.type == "STRING" and isinstance(value, (dict, list)):
        # Kestra renders a map or list as its JSON text where a string is expected.
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return parse_input(Input.model_construct(id=output.id, type=output.type, required=True), value)

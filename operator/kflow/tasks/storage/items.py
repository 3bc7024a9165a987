"""io.kestra.plugin.core.storage.{DeduplicateItems, FilterItems}: per-item expressions over an Ion file.

Each item's fields are the expression's variables (`{{ key }}`, `{{ value == null }}`); an item that is
not a struct is `{{ value }}`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.expr import truthy
from kflow.tasks import ion
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register
from kflow.tasks.storage.common import new_file, output_name, source, store


def _vars(item: Any) -> dict[str, Any]:
    return dict(item) if isinstance(item, dict) else {"value": item}


@register()
class DeduplicateItems(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.DeduplicateItems"
    from_: str = Field(alias="from")
    expr: str

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        last: dict[str, int] = {}
        items = list(ion.read_rows(src, exact=True))
        for i, item in enumerate(items):
            last[str(ctx.render(self.expr, _vars(item)))] = i
        keep = set(last.values())
        path = new_file(ctx, output_name(src))
        with open(path, "w", encoding="utf-8") as out:
            ion.write_rows(out, (item for i, item in enumerate(items) if i in keep))
        return {"uri": store(ctx, path), "numKeys": len(last), "processedItemsTotal": len(items),
                "droppedItemsTotal": len(items) - len(keep)}


@register()
class FilterItems(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.FilterItems"
    from_: str = Field(alias="from")
    filterCondition: str
    filterType: Literal["INCLUDE", "EXCLUDE"] = "INCLUDE"
    errorOrNullBehavior: Literal["FAIL", "INCLUDE", "EXCLUDE"] = "FAIL"

    def _keep(self, ctx: Any, item: Any, index: int) -> bool:
        try:
            result = ctx.render_value(self.filterCondition.strip(), _vars(item))
        except Exception as exc:
            if self.errorOrNullBehavior == "FAIL":
                raise TaskFailed(f"filterCondition failed on item {index}: {exc}") from None
            return self.errorOrNullBehavior == "INCLUDE"
        if result is None or result == "":
            if self.errorOrNullBehavior == "FAIL":
                raise TaskFailed(f"filterCondition returned null on item {index}")
            return self.errorOrNullBehavior == "INCLUDE"
        matched = truthy(result) and result not in (0, "0", "-0")
        return matched if self.filterType == "INCLUDE" else not matched

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        path = new_file(ctx, output_name(src))
        processed = kept = 0
        with open(path, "w", encoding="utf-8") as out:
            for item in ion.read_rows(src, exact=True):
                if self._keep(ctx, item, processed):
                    out.write(ion.dumps(item) + "\n")
                    kept += 1
                processed += 1
        return {"uri": store(ctx, path), "processedItemsTotal": processed,
                "droppedItemsTotal": processed - kept}

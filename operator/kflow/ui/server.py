"""The web server of `kflow ui`: a JSON API over one data source, server-sent events for live pages, and
the static page (vanilla JS/CSS shipped in the package: no CDN, no Node at run time).

aiohttp is the server: kopf already depends on it, so the UI adds no dependency, and its StreamResponse
serves SSE directly. Sources are synchronous; their calls run in worker threads. Live updates poll the
source (every POLL seconds) and push a document only when it changed, which works the same over a local
history written by another process and over the Kubernetes API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from kflow.engine.state import State
from kflow.ui import views
from kflow.ui.sources import ActionError, NotFound, Source, filter_logs

STATIC = Path(__file__).parent / "static"
POLL = 0.5
KEEPALIVE = 15.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=str, separators=(",", ":")), status=status,
                        content_type="application/json")


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure is a one-line JSON error the page shows; never a traceback page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except NotFound as exc:
        return _error(404, str(exc))
    except ActionError as exc:
        return _error(exc.status, str(exc), field=exc.field)
    except Exception as exc:  # a source's failure (API down, unreadable store): say what it was
        return _error(502, f"{type(exc).__name__}: {exc}")


class UI:
    def __init__(self, source: Source, allow_actions: bool = False):
        self.source = source
        self.allow_actions = allow_actions
        self.assets: dict[str, tuple[bytes, str]] = {}
        self.encodings: dict[str, tuple[Any, bytes, str]] = {}

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    @staticmethod
    def key(request: web.Request) -> str:
        return f"{request.match_info['ns']}/{request.match_info['name']}"

    # ---- pages and reads ----------------------------------------------------------------------------
    def asset(self, name: str) -> web.Response:
        """The page's files, read once and served from memory (they are a few tens of KB)."""
        if name not in self.assets:
            path = STATIC / name
            if "/" in name or name.startswith(".") or not path.is_file():
                raise web.HTTPNotFound()
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.assets[name] = (path.read_bytes(), "text/javascript" if name.endswith(".js") else kind)
        body, kind = self.assets[name]
        return web.Response(body=body, content_type=kind, charset="utf-8", headers={"Cache-Control": "no-cache"})

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The page with its stylesheet and scripts inlined: one response, so a page opens after a
        single round trip to a server that may be busy."""
        if "/" not in self.assets:
            html = (STATIC / "index.html").read_text(encoding="utf-8")
            for tag, name in re.findall(r'(<link rel="stylesheet" href="/static/([\w.]+)">)', html):
                html = html.replace(tag, f"<style>\n{(STATIC / name).read_text(encoding='utf-8')}</style>")
            for tag, name in re.findall(r'(<script src="/static/([\w.]+)" defer></script>)', html):
                # a module script is deferred like `defer`, and keeps the files' order
                code = (STATIC / name).read_text(encoding="utf-8").replace("</script", "<\\/script")
                html = html.replace(tag, f'<script type="module">\n{code}</script>')
            self.assets["/"] = (html.encode(), "text/html")
        body, kind = self.assets["/"]
        return web.Response(body=body, content_type=kind, charset="utf-8", headers={"Cache-Control": "no-cache"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        return self.asset(request.match_info["file"])

    async def info(self, request: web.Request) -> web.Response:
        return _json({"source": self.source.kind, "allowActions": self.allow_actions,
                      "files": getattr(self.source, "files", False),
                      "actions": [a for a in ("execute", "kill", "restart", "replay", "resume", "backfill")
                                  if hasattr(self.source, a)] if self.allow_actions else []})

    async def flows(self, request: web.Request) -> web.Response:
        return _json(await self.call(self.source.flows))

    async def flow(self, request: web.Request) -> web.Response:
        return _json(await self.call(self.source.flow, self.key(request)))

    def _filtered(self, request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        q = request.query
        return [r for r in rows if views.matches(r, q.get("flow", ""), q.get("state", ""), q.get("label", ""),
                                                  q.get("since", ""), q.get("until", ""))]

    async def executions(self, request: web.Request) -> web.Response:
        return _json(self._filtered(request, await self.call(self.source.executions)))

    def encoded(self, key: str, doc: dict[str, Any]) -> tuple[bytes, str]:
        """(JSON, version) of an execution document; kept while the source hands back the same object
        (a caching source does until the execution changes), since encoding 2,000 task runs takes time."""
        hit = self.encodings.get(key)
        if hit is None or hit[0] is not doc:
            body = json.dumps(doc, default=str, separators=(",", ":")).encode()
            hit = self.encodings[key] = (doc, body, hashlib.sha1(body).hexdigest())
        return hit[1], hit[2]

    async def execution(self, request: web.Request) -> web.Response:
        key = self.key(request)
        body, version = self.encoded(key, await self.call(self.source.execution, key))
        return web.Response(body=body, content_type="application/json", headers={"X-Kflow-Version": version})

    async def logs(self, request: web.Request) -> web.Response:
        entries = await self.call(self.source.logs, self.key(request), request.query.get("taskRunId") or None)
        return _json(filter_logs(entries, request.query.get("level")))

    async def triggers(self, request: web.Request) -> web.Response:
        return _json(await self.call(self.source.triggers))

    async def _file(self, request: web.Request) -> Path:
        if not getattr(self.source, "files", False):
            raise NotFound("this source keeps no files the UI can read")
        return await self.call(self.source.file, self.key(request), request.query.get("uri", ""))

    async def preview(self, request: web.Request) -> web.Response:
        path = await self._file(request)
        return _json(await self.call(views.preview_file, path))

    async def download(self, request: web.Request) -> web.StreamResponse:
        path = await self._file(request)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Type": kind,
                                               "Content-Disposition": f'attachment; filename="{path.name}"'})

    # ---- live updates -------------------------------------------------------------------------------
    async def _stream(self, request: web.Request, read: Callable[[], Any], done: Callable[[Any], bool]
                      ) -> web.StreamResponse:
        """Each new version of `read()` as an SSE message; `?after=<version>` (the X-Kflow-Version of a
        plain GET) skips the version the page already has."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        last, quiet, last_obj = request.query.get("after", ""), 0.0, None
        try:
            while True:
                try:
                    data = await self.call(read)
                    # a source that caches hands back the same object while nothing changed
                    payload = None if data is last_obj else json.dumps(data, default=str, separators=(",", ":"))
                    last_obj = data
                except NotFound as exc:
                    data, payload = None, json.dumps({"error": str(exc)})
                digest = last if payload is None else hashlib.sha1(payload.encode()).hexdigest()
                if digest != last:
                    await resp.write(f"data: {payload}\n\n".encode())
                    last, quiet = digest, 0.0
                elif quiet >= KEEPALIVE:
                    await resp.write(b": keep-alive\n\n")
                    quiet = 0.0
                if data is not None and done(data):
                    await resp.write(b"event: end\ndata: {}\n\n")
                    break
                await asyncio.sleep(POLL)
                quiet += POLL
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def stream_executions(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, lambda: self._filtered(request, self.source.executions()),
                                  lambda _: False)

    async def stream_execution(self, request: web.Request) -> web.StreamResponse:
        key = self.key(request)
        return await self._stream(request, lambda: self.source.execution(key),
                                  lambda doc: State(doc["state"]).terminal and doc["state"] != "PAUSED")

    async def stream_triggers(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, self.source.triggers, lambda _: False)

    # ---- actions ------------------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not self.allow_actions:
            raise ActionError("actions are disabled: start `kflow ui` with --allow-actions", status=403)
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:  # another site posting here (CSRF)
            raise ActionError(f"cross-origin request from {origin} refused", status=403)
        try:
            body = await request.json()
        except ValueError:
            raise ActionError("the request body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ActionError("the request body must be a JSON object")
        return body

    def _action(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.source, name, None)
        if fn is None:
            raise ActionError(f"{name} is not available on the {self.source.kind} source", status=501)
        return fn

    async def execute(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        inputs, labels = body.get("inputs") or {}, body.get("labels") or {}
        if not isinstance(inputs, dict) or not isinstance(labels, dict):
            raise ActionError("inputs and labels must be JSON objects")
        key = await self.call(self._action("execute"), self.key(request), inputs,
                              {str(k): str(v) for k, v in labels.items()})
        return _json({"key": key}, 201)

    async def act(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        verb = request.match_info["verb"]
        if verb not in ("kill", "restart", "replay", "resume"):
            raise web.HTTPNotFound()
        args: list[Any] = [self.key(request)]
        if verb == "replay":
            if not body.get("taskRunId"):
                raise ActionError("replay needs the task run to replay from (taskRunId)", field="taskRunId")
            args.append(body["taskRunId"])
        result = await self.call(self._action(verb), *args)
        return _json({"key": result if isinstance(result, str) else self.key(request)})

    async def backfill(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return _json(await self.call(self._action("backfill"), self.key(request), body,
                                     bool(body.get("dryRun", True))))


def build_app(source: Source, allow_actions: bool = False) -> web.Application:
    ui = UI(source, allow_actions)
    app = web.Application(middlewares=[errors])
    ex = "/api/executions/{ns}/{name}"
    app.add_routes([
        web.get("/", ui.index), web.get("/static/{file}", ui.static), web.get("/api/info", ui.info),
        web.get("/api/flows", ui.flows), web.get("/api/flows/{ns}/{name}", ui.flow),
        web.get("/api/executions", ui.executions), web.get(ex, ui.execution), web.get(ex + "/logs", ui.logs),
        web.get(ex + "/preview", ui.preview), web.get(ex + "/file", ui.download),
        web.get("/api/triggers", ui.triggers), web.get("/api/stream/triggers", ui.stream_triggers),
        web.get("/api/stream/executions", ui.stream_executions), web.get("/api/stream" + ex[4:], ui.stream_execution),
        web.post("/api/flows/{ns}/{name}/execute", ui.execute), web.post(ex + "/{verb}", ui.act),
        web.post("/api/triggers/{ns}/{name}/backfill", ui.backfill),
    ])
    return app


def serve(source: Source, host: str, port: int, allow_actions: bool, ready: Callable[[str], None]) -> None:
    async def main() -> None:
        runner = web.AppRunner(build_app(source, allow_actions), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        ready(f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}/")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())

"""The playground's web app (Starlette): the page and its files, shipped in the package, and the JSON API under it.

    GET  /                 the page
    GET  /static/<file>    its scripts and styles (only files of the package's static folder)
    GET  /api/info         the model, its view, classes, the engines that run here, whether test digits are at hand
    GET  /api/sample       ?index=N or ?class=C[&nth=K]: a test-set image's index, class and class_name
    POST /api/read         {"image" | "pixels" | "sample", "engine"?, "layer"?}: every step's numbers

Every mistake a request can make is a 4xx answer {"error": "..."}; the server keeps serving. Nothing heavy runs on
the event loop: a request's JSON and its picture are parsed in worker threads, PARSERS at a time, and the model is
computed in a worker thread, one request at a time. serve.py serves this app behind guard.py's checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rnnlab.playground.answer import Playground
from rnnlab.playground.request import (
    MAX_BODY,
    MAX_FILE,
    WHOLE,
    ReadRequest,
    Refused,
    megabytes,
    read_request,
    whole_number,
)

STATIC = Path(__file__).parent / "static"
PARSERS = 2  # requests whose JSON and picture are decoded at once (each up to 8 MiB, a picture up to 4 M pixels)


def error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> bytes:
    """The request's body, read up to MAX_BODY bytes (a longer one is refused as it comes, not held)."""
    declared = request.headers.get("content-length", "")
    if WHOLE.fullmatch(declared) and int(declared) > MAX_BODY:
        raise Refused(
            f"the request is {megabytes(int(declared))}; the playground takes up to {megabytes(MAX_BODY)} (a "
            f"picture file of up to {megabytes(MAX_FILE)}, sent as base64)",
            413,
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(f"the request is over {megabytes(MAX_BODY)}, the most the playground takes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Refused("the request body is not JSON") from None


def build_app(playground: Playground) -> Starlette:
    """The app serving ``playground`` (a run already loaded)."""
    parsers = anyio.CapacityLimiter(PARSERS)

    def parse(raw: bytes) -> ReadRequest:  # in a worker thread
        return read_request(_json(raw), playground.size, playground.loaded.config.model.layers)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def info(request: Request) -> Response:
        return JSONResponse(playground.info())

    async def sample(request: Request) -> Response:
        query = request.query_params
        unknown = [k for k in query if k not in ("index", "class", "nth")]
        if unknown:
            raise Refused(f"unknown parameter {unknown[0][:40]!r}; give index=N, or class=C (and nth=K)")
        numbers = {k: whole_number(query[k], k) for k in ("index", "class", "nth") if k in query}
        if "index" in numbers and ("class" in numbers or "nth" in numbers):
            raise Refused("give index=N, or class=C (and nth=K), not both")
        if "nth" in numbers and "class" not in numbers:
            raise Refused("nth: counts the images of one class; give class=C with it")
        return JSONResponse(
            await run_in_threadpool(
                playground.sample, numbers.get("index"), numbers.get("class"), numbers.get("nth", 0)
            )
        )

    async def read(request: Request) -> Response:
        asked = await anyio.to_thread.run_sync(parse, await _body(request), limiter=parsers)
        return JSONResponse(await run_in_threadpool(playground.read, asked))

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return error(str(exc), exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error(f"no such page: {request.url.path[:80]}", 404)
        return error(str(exc.detail), exc.status_code)

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)  # the browser asks for one; the page has none

    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/api/info", info),
        Route("/api/sample", sample),
        Route("/api/read", read, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={Refused: refused, HTTPException: http_error})

"""Serve a `CallbackHandler` from any ASGI or WSGI server: `asgi_app` and `wsgi_app`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from wxsegment.api.callback._handler import CallbackHandler, CallbackResponse, _response

__all__ = ["asgi_app", "wsgi_app"]

_Scope: TypeAlias = MutableMapping[str, Any]
_Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp: TypeAlias = Callable[[_Scope, _Receive, _Send], Awaitable[None]]
_StartResponse: TypeAlias = Callable[..., Any]
_WSGIApp: TypeAlias = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]


def _query(text: str) -> Mapping[str, str]:
    # WeChat sends each parameter once; of repeated ones the first counts.
    found: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        found.setdefault(name, value)
    return found


def asgi_app(handler: CallbackHandler) -> _ASGIApp:
    """An ASGI-3 app answering every request with ``handler`` (mount it at the callback path).

    The body is read up to the handler's size limit; `CallbackHandler.handle` runs in a worker
    thread, so a slow handler never blocks the event loop.
    """

    async def app(scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
        limit = handler.max_size
        chunks: list[bytes] = []
        size = 0
        response: CallbackResponse | None = None
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                response = _response(413)
                break
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if response is None:
            query = _query(scope.get("query_string", b"").decode("latin-1"))
            response = await asyncio.to_thread(
                handler.handle, scope["method"], query, b"".join(chunks)
            )
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    return app


def wsgi_app(handler: CallbackHandler) -> _WSGIApp:
    """A WSGI app answering every request with ``handler`` (mount it at the callback path).

    A malformed or over-limit ``Content-Length`` is answered 400 or 413 without reading the
    body.
    """

    def app(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        length_text = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not (length_text.isascii() and length_text.isdigit()):
            response = _response(400)
        elif int(length_text) > handler.max_size:
            response = _response(413)
        else:
            body = environ["wsgi.input"].read(int(length_text)) if int(length_text) else b""
            query = _query(str(environ.get("QUERY_STRING", "")))
            response = handler.handle(method, query, body)
        start_response(f"{response.status} {response.reason}", list(response.headers))
        return [response.body]

    return app

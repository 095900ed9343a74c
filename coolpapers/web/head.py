"""HEAD answers like GET without a body (RFC 9110 §9.3.2), on every page and API path.

FastAPI routes declared with ``GET`` answer HEAD with 405; listing HEAD on each route would
double every operation in the OpenAPI document. This pure ASGI layer runs the GET instead and
drops the body, keeping the status and the headers (``content-length`` included: it describes
the body a GET would send). Not ``BaseHTTPMiddleware``: that one buffers through a task group
and breaks server-sent events.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_headers_only(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not finished:
                # the first body message ends the response: a stream (SSE) then reads a
                # disconnect from the server and stops, instead of running on unheard
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif message["type"] != "http.response.body":
                await send(message)

        # a copy: the server keeps its own scope, and knows from it that this was a HEAD
        await self.app({**scope, "method": "GET"}, receive, send_headers_only)

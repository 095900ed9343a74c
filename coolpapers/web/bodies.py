"""JSON request bodies read with a cap: a body past ``max_bytes`` is refused (413) before more of
it is read or any of it is parsed (datasette's ``max_post_body_bytes``: parsing JSON can
multiply memory), then validated by a pydantic model with explicit fields (400 through the
error boundary, like any other validation error)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from coolpapers.errors import BadInput

Model = TypeVar("Model", bound=BaseModel)


class BodyTooLarge(BadInput):
    status_code = 413


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The request's body, refused (413) past ``max_bytes``: at once when Content-Length says
    so, else as soon as the chunks received pass it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"request body over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"request body over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, model: type[Model], max_bytes: int) -> Model:
    """The body as ``model`` (see the module's doc)."""
    raw = await read_capped(request, max_bytes)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its body itself: /docs shows ``model`` as the
    body it takes."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}

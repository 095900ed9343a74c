"""The inline viewer's PDF proxy: a paper's PDF from arXiv, same-origin, cached on disk."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    return APIRouter()

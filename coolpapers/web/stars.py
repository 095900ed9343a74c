"""/stars (every paper starred in this browser) and BibTeX of a list of papers."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    return APIRouter()

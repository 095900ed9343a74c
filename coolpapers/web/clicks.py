"""The public [PDF]/[FAQ] click counters: one count per visitor, paper and day, rate limited."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    return APIRouter()

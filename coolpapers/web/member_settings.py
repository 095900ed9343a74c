"""A member's settings on the server: what the browser keeps for an anonymous reader (the FAQ
language, the categories followed and excluded, the preference keywords), kept here for a
member so that every browser they log in from has them (static/js/interests.js loads them on
start and writes each change through; localStorage stays its cache).

- ``GET /api/settings`` → ``{"faq_lang": "zh"|"en"|null, "categories": [...], "prefs": [...]}``;
  ``faq_lang`` is null until the member's browser first stores them.
- ``PUT /api/settings`` with exactly those three fields (nothing else: 422) → the stored values.
  ``categories``: at most 200 category or archive ids, each canonical after the taxonomy's
  aliases; an excluded one is written ``-id``, as in a list's spec (``cs.LG-cs.AI``); a
  category is in one list at most (the first spelling wins). ``prefs``: at most 100 keywords of
  at most 40 characters, spaces collapsed, repeats (any case) dropped.

Members only (401 anonymous, 404 when the site has no accounts). Other keys of the member's
stored settings (another feature's) are kept as they are.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import store, taxonomy
from coolpapers.db import session_scope
from coolpapers.errors import BadInput
from coolpapers.store import Member
from coolpapers.web import bodies, urls
from coolpapers.web.auth import RequireMember
from coolpapers.web.deps import FactoryDep
from coolpapers.web.present import JSONBody

MAX_CATEGORIES = 200
MAX_PREFS = 100
MAX_PREF_CHARS = 40
MAX_CATEGORY_CHARS = 40  # "-cond-mat.stat-mech" and its kin are far shorter
MAX_SETTINGS_BYTES = 32 * 1024  # 200 ids and 100 keywords of 40 characters, escaped, fit
FIELDS = ("faq_lang", "categories", "prefs")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadSettings(BadInput):
    status_code = 422


class MemberSettings(BaseModel):
    """What PUT /api/settings accepts: these three fields and nothing else."""

    model_config = ConfigDict(extra="forbid")

    faq_lang: Literal["zh", "en"]
    categories: list[Annotated[StrictStr, Field(max_length=MAX_CATEGORY_CHARS)]] = Field(
        max_length=MAX_CATEGORIES
    )
    prefs: list[Annotated[StrictStr, Field(max_length=MAX_PREF_CHARS)]] = Field(
        max_length=MAX_PREFS
    )

    @field_validator("categories")
    @classmethod
    def _categories(cls, values: list[str]) -> list[str]:
        return clean_categories(values)

    @field_validator("prefs")
    @classmethod
    def _prefs(cls, values: list[str]) -> list[str]:
        return clean_prefs(values)


def clean_categories(values: list[str]) -> list[str]:
    """Canonical ids (``-id`` excluded), each category once; ValueError on an unknown one."""
    out: list[str] = []
    taken: set[str] = set()
    for value in values:
        excluded = value.startswith("-")
        found = taxonomy.canonical(value[1:] if excluded else value)
        if found is None:
            raise ValueError(f"not an arXiv category or archive: {value[:MAX_CATEGORY_CHARS]!r}")
        if found not in taken:
            taken.add(found)
            out.append("-" + found if excluded else found)
    return out


def clean_prefs(values: list[str]) -> list[str]:
    """Spaces collapsed, empty ones and repeats (any case) dropped; ValueError on a comma or a
    control character (the browser splits keywords on commas and lines)."""
    out: list[str] = []
    taken: set[str] = set()
    for value in values:
        word = " ".join(value.split())
        if CONTROL.search(word) or "," in word:
            raise ValueError("a keyword has no comma nor control character")
        if word and word.lower() not in taken:
            taken.add(word.lower())
            out.append(word)
    return out


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """The member's stored settings as the API shows them; what no longer validates (a
    category arXiv retired, a hand edit) is left out rather than failing the page."""
    shown: dict[str, Any] = {"faq_lang": None, "categories": [], "prefs": []}
    lang = values.get("faq_lang")
    if lang in ("zh", "en"):
        shown["faq_lang"] = lang
    for field, clean, most in (
        ("categories", clean_categories, MAX_CATEGORIES),
        ("prefs", clean_prefs, MAX_PREFS),
    ):
        stored = values.get(field)
        kept: list[str] = []
        for value in stored if isinstance(stored, list) else []:
            if isinstance(value, str) and len(value) <= MAX_CATEGORY_CHARS:
                try:
                    kept = clean([*kept, value])
                except ValueError:
                    continue
        shown[field] = kept[:most]
    return shown


def read_settings(factory: sessionmaker[Session], member: Member) -> dict[str, Any]:
    with session_scope(factory) as s:
        return _stored(store.user_settings(s, member.id))


def write_settings(
    factory: sessionmaker[Session], member: Member, chosen: MemberSettings
) -> dict[str, Any]:
    with session_scope(factory, write=True) as s:
        values = store.user_settings(s, member.id)  # other features' keys stay
        values.update(chosen.model_dump())
        store.put_user_settings(s, member.id, values)
        return _stored(values)


async def _read_body(request: Request) -> MemberSettings:
    raw = await bodies.read_capped(request, MAX_SETTINGS_BYTES)
    try:
        return MemberSettings.model_validate_json(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False)[:5]:
            where = ".".join(str(p) for p in err.get("loc", ())) or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        raise BadSettings("bad settings: " + "; ".join(problems)) from None


def api_get_settings(member: RequireMember, factory: FactoryDep) -> Response:
    """Your settings: `{"faq_lang", "categories", "prefs"}` (`faq_lang` null: never stored)."""
    return JSONBody(read_settings(factory, member))


async def api_put_settings(
    request: Request, member: RequireMember, factory: FactoryDep
) -> Response:
    """Replace your settings: exactly `{"faq_lang": "zh"|"en", "categories": [...], "prefs":
    [...]}` (422 otherwise); answers what is stored, normalised."""
    chosen = await _read_body(request)
    return JSONBody(await run_in_threadpool(write_settings, factory, member, chosen))


def router() -> APIRouter:
    r = APIRouter()
    r.get(urls.api_settings(), tags=["settings"], response_class=Response)(api_get_settings)
    r.put(
        urls.api_settings(),
        tags=["settings"],
        response_class=Response,
        openapi_extra=bodies.openapi_body(MemberSettings),
    )(api_put_settings)
    return r

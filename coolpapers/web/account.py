"""The lab's door: ``/login`` (GET the form, POST ``username`` + ``password`` → 303),
``POST /logout``, and the admins' ``/lab/members`` (list, disable, enable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from coolpapers import accounts
from coolpapers.config import Settings
from coolpapers.errors import BadInput, NotFound
from coolpapers.models import utcnow
from coolpapers.web import auth, urls
from coolpapers.web.deps import FactoryDep, SettingsDep, TemplatesDep

NAME_FIELD_MAX = 200  # a form's name field: generous over NAME_LEN, so a long one reads "wrong"


def _password_logins(settings: Settings) -> None:
    if settings.auth == "proxy":
        raise NotFound("members log in through the lab's proxy here, not with a password")
    if settings.auth != "password":
        raise NotFound("this site has no accounts (COOLPAPERS_AUTH=none)")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def login_form(
    request: Request, settings: SettingsDep, templates: TemplatesDep, next: str = "/"
) -> Response:
    _password_logins(settings)
    context = {"next": urls.local_path(next), "error": None, "username": ""}
    return _no_store(templates.TemplateResponse(request, "login.html", context))


def login(
    request: Request,
    settings: SettingsDep,
    templates: TemplatesDep,
    factory: FactoryDep,
    username: Annotated[str, Form(max_length=NAME_FIELD_MAX)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD_LEN)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Log in: a new session (the old one, if any, ends), then 303 to ``next`` on this site."""
    _password_logins(settings)
    target = urls.local_path(next)
    address = request.client.host if request.client else "unknown"
    policy = accounts.SessionPolicy.of(settings)
    try:
        _member, token = accounts.login(factory, username, password, address, utcnow(), policy)
    except (accounts.LoginFailed, accounts.TooManyLogins) as exc:
        context = {"next": target, "error": str(exc), "username": username}
        refused = templates.TemplateResponse(
            request, "login.html", context, status_code=exc.status_code
        )
        if isinstance(exc, accounts.TooManyLogins):
            refused.headers["Retry-After"] = str(exc.retry_after_s)
        return _no_store(refused)
    accounts.logout(factory, auth.session_token(request, settings))  # no session fixation
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.cookie_name(request, settings),
        token,
        max_age=int(policy.absolute.total_seconds()),
        path="/",
        secure=auth.is_https(request, settings),
        httponly=True,
        samesite="lax",
    )
    return _no_store(response)


def logout(request: Request, settings: SettingsDep, factory: FactoryDep) -> Response:
    """End this browser's session (on the server: the cookie is worth nothing after)."""
    accounts.logout(factory, auth.session_token(request, settings))
    response = RedirectResponse(urls.home(), status_code=303)
    response.delete_cookie(
        auth.cookie_name(request, settings),
        path="/",
        secure=auth.is_https(request, settings),
        httponly=True,
        samesite="lax",
    )
    return _no_store(response)


def members_page(
    request: Request, admin: auth.RequireAdmin, factory: FactoryDep, templates: TemplatesDep
) -> Response:
    context = {"members": accounts.list_members(factory), "me": admin}
    return _no_store(templates.TemplateResponse(request, "members.html", context))


def member_action(
    name: str, action: str, admin: auth.RequireAdmin, factory: FactoryDep
) -> Response:
    """An admin disables (sessions end at once) or enables a member."""
    if action == "disable":
        if name == admin.name:
            raise BadInput("an admin cannot disable themselves here; use `coolpapers users`")
        accounts.disable_member(factory, name, utcnow())
    elif action == "enable":
        accounts.enable_member(factory, name)
    else:
        raise NotFound(f"no action {action!r}: disable or enable")
    return RedirectResponse(urls.members(), status_code=303)


def router() -> APIRouter:
    r = APIRouter()
    r.get("/login", include_in_schema=False)(login_form)
    r.post("/login", include_in_schema=False)(login)
    r.post("/logout", include_in_schema=False)(logout)
    r.get("/lab/members", include_in_schema=False)(members_page)
    r.post("/lab/members/{name}/{action}", include_in_schema=False)(member_action)
    return r

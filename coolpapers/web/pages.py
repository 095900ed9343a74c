"""Every page's router, one module per page. Their paths are disjoint by shape (``web.urls``
registers the shapes first), so the order of this list means nothing: a test shuffles it."""

from __future__ import annotations

from fastapi import APIRouter

from coolpapers.web import (
    account,
    clicks,
    day_list,
    exports,
    faq,
    feeds,
    home,
    lab,
    me,
    member_settings,
    notes,
    paper,
    pdf,
    search,
    seen,
    stars,
    status,
    urls,
)


def routers() -> list[APIRouter]:
    urls.register_convertors()
    return [
        home.router(),
        account.router(),
        day_list.router(),
        paper.router(),
        search.router(),
        faq.router(),
        clicks.router(),
        pdf.router(),
        stars.router(),
        seen.router(),
        lab.router(),
        exports.router(),
        feeds.router(),
        me.router(),
        notes.router(),
        member_settings.router(),
        status.router,
    ]

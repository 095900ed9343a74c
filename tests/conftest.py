"""Fixtures: a fresh database per test on SQLite and (when configured) Postgres, a fake arXiv on
127.0.0.1, settings pointing at it, and the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from coolpapers import schema
from coolpapers.config import Settings
from coolpapers.db import make_engine, make_sessionmaker
from coolpapers.web import create_app
from tests.fakes.arxiv_server import FakeArxiv

FIXTURES = Path(__file__).parent / "fixtures"
RSS = FIXTURES / "arxiv" / "rss"
API = FIXTURES / "arxiv" / "api"
PG_ENV = "COOLPAPERS_TEST_DATABASE_URL"
IN_CI = os.environ.get("CI") == "true"


def postgres_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        if IN_CI:
            pytest.fail(f"{PG_ENV} is not set: in CI the Postgres half must run")
        pytest.skip(f"{PG_ENV} not set")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throwaway schema in the Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = postgres_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report any connection failure the same way
        admin.dispose()
        if IN_CI:
            pytest.fail(f"Postgres at {url} is unusable: {exc}")
        pytest.skip(f"Postgres unusable: {exc}")
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{name}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def fake_arxiv() -> Iterator[FakeArxiv]:
    with FakeArxiv() as fake:
        yield fake


def make_settings(
    database_url: str, data_dir: Path, fake: FakeArxiv, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "arxiv_rss_url": fake.rss_url,
        "arxiv_api_url": fake.api_url,
        "arxiv_web_url": fake.web_url,
        "arxiv_min_interval_s": 0.0,
        "allow_private_networks": True,
        "fetch_timeout_s": 2.0,
        "fetch_deadline_s": 3.0,
        "fetch_max_attempts": 3,
        "arxiv_categories": "cs.LG",
        "secret_key": "test",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fake_arxiv: FakeArxiv) -> Settings:
    return make_settings(database_url, tmp_path / "data", fake_arxiv)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c

"""The `coolpapers` command: exit codes and messages, in-process and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from coolpapers.cli import main
from coolpapers.config import Settings
from tests.conftest import RSS
from tests.fakes.arxiv_server import FakeArxiv, Fault

LG = RSS / "rss-cs.LG-2026-08-21-fri.xml"


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the command at the test database and fake arXiv through the environment."""
    for name, value in settings.model_dump().items():
        monkeypatch.setenv(f"COOLPAPERS_{name.upper()}", str(value))
    return settings


def test_ingest_feed_file_twice(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--feed-file", str(LG)]) == 0
    first = capsys.readouterr().out
    assert "ok (2026-08-21): 200 items (new 65, cross 62, replace 73), 200 papers written" in first
    assert main(["ingest", "--feed-file", str(LG)]) == 0
    assert "0 papers written" in capsys.readouterr().out


def test_ingest_missing_file_fails(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--feed-file", "/nonexistent/feed.xml"]) == 1
    assert "failed" in capsys.readouterr().out


def test_ingest_bad_id_is_a_usage_error(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--ids", "2401.00001,nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


def test_ingest_categories_from_fake_arxiv(
    env: Settings, fake_arxiv: FakeArxiv, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_arxiv.serve_feed("cs.LG", LG)
    assert main(["ingest", "--categories", "cs.LG"]) == 0
    fake_arxiv.script("/rss/cs.LG", [Fault.status(404)])
    assert main(["ingest", "--categories", "cs.LG"]) == 1
    assert "failed" in capsys.readouterr().out


def test_bad_setting_stops_with_the_variable_named(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COOLPAPERS_ARXIV_CATEGORIES", "cs.AI,cs.XX")
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    assert "COOLPAPERS_ARXIV_CATEGORIES" in err and "cs.XX" in err


def test_serve_refuses_an_unmigrated_database(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "1"]) == 1
    assert "coolpapers db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0


def test_real_process(tmp_path: Path) -> None:
    """The console entry point as a separate process on SQLite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLPAPERS_")}
    env["COOLPAPERS_DATA_DIR"] = str(tmp_path)
    cmd = [sys.executable, "-m", "coolpapers"]
    done = subprocess.run(
        [*cmd, "ingest", "--feed-file", str(LG)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "200 items" in done.stdout
    # the fresh database's migrations are logged, alembic's two lines on its dialect are not
    assert "Running upgrade" in done.stderr and "Context impl" not in done.stderr
    assert "Will assume" not in done.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'coolpapers.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from papers").scalar() == 200
    engine.dispose()
    bad = subprocess.run(
        [*cmd, "ingest"],
        env={**env, "COOLPAPERS_ARXIV_RSS_URL": "ftp://x"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "COOLPAPERS_ARXIV_RSS_URL" in bad.stderr
    assert "Traceback" not in bad.stderr

"""What ships and what `make test` sets up: the wheel carries every module and the top-level
templates/, static/ and migrations/ (an installed package finds them), and the Chromium step
installs Debian's package as root or prints the one command to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import ensure_chromium

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ("templates", "static", "migrations")
# what a build never needs; everything else of the checkout goes in, as in `pip wheel .`
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "data", "build", "dist", "*.egg-info", "__pycache__", "*_cache", "tests"
)


def shipped(root: Path) -> set[str]:
    """The paths a wheel must hold: every module of coolpapers/ and every asset file, mapped into
    the package (``templates/x`` ships as ``coolpapers/templates/x``)."""
    found = {str(p.relative_to(root)) for p in (root / "coolpapers").rglob("*.py")}
    for name in ASSETS:
        for path in (root / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(f"coolpapers/{path.relative_to(root)}")
    return {p for p in found if "__pycache__" not in p}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel pip builds from a copy of this checkout (offline, with the installed
    setuptools; the copy keeps build/ and *.egg-info out of the work tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (tmp / "dist").glob("coolpapers-*.whl")
    yield built


def test_the_wheel_holds_every_module_and_asset(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = shipped(ROOT)
    # the files this check is about, so that an empty source tree cannot pass it
    assert {
        "coolpapers/templates/base.html",
        "coolpapers/static/app.css",
        "coolpapers/migrations/env.py",
        "coolpapers/migrations/script.py.mako",
        "coolpapers/web/__init__.py",
        "coolpapers/store/__init__.py",
    } <= wanted
    assert any(n.startswith("coolpapers/migrations/versions/") for n in wanted)
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel (pyproject's package list?): {missing}"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "demo/"))]


def test_a_package_left_out_of_pyproject_is_caught(tmp_path: Path) -> None:
    """The check above, on a tree with a module the wheel lacks."""
    (tmp_path / "coolpapers" / "newsource").mkdir(parents=True)
    (tmp_path / "coolpapers" / "newsource" / "__init__.py").write_text("")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "base.html").write_text("")
    assert shipped(tmp_path) == {
        "coolpapers/newsource/__init__.py",
        "coolpapers/templates/base.html",
    }


def test_an_installed_wheel_finds_its_assets_and_migrates(wheel: Path, tmp_path: Path) -> None:
    """Unpacked as pip installs it, outside the checkout: asset_dir finds the three directories
    inside the package, and Alembic runs the shipped migrations to head."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        import coolpapers
        from coolpapers import schema
        from coolpapers.assets import asset_dir
        from coolpapers.config import Settings
        from coolpapers.db import make_engine

        site = Path(sys.argv[1]).resolve()
        assert Path(coolpapers.__file__).resolve().is_relative_to(site), coolpapers.__file__
        for name in ("templates", "static", "migrations"):
            found = asset_dir(name)
            assert found == site / "coolpapers" / name, (name, found)
        assert (asset_dir("templates") / "base.html").is_file()
        assert (asset_dir("static") / "app.css").is_file()
        url = f"sqlite:///{sys.argv[2]}"
        engine = make_engine(Settings(database_url=url, data_dir=sys.argv[3]))
        schema.upgrade(engine)
        assert schema.is_current(engine)
        print("ok", schema.current_revision(engine))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("COOLPAPERS_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script, str(site), str(tmp_path / "db.sqlite"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the checkout: nothing may come from it
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok ")


# --- `make test`'s Chromium step (tests/ensure_chromium.py) ---


def test_chromium_present_needs_nothing(tmp_path: Path) -> None:
    there = tmp_path / "chromium"
    there.write_text("")
    for root in (True, False):
        assert ensure_chromium.plan(there, root=root, has_apt=True) == ([], None)


def test_chromium_missing_as_root_installs_debians_package(tmp_path: Path) -> None:
    commands, problem = ensure_chromium.plan(tmp_path / "absent", root=True, has_apt=True)
    assert problem is None
    assert commands == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ]


def test_chromium_missing_as_a_user_prints_the_one_command(tmp_path: Path) -> None:
    commands, problem = ensure_chromium.plan(tmp_path / "absent", root=False, has_apt=True)
    assert commands == []
    assert problem is not None
    assert "sudo apt-get update && sudo apt-get install -y chromium" in problem
    _, no_apt = ensure_chromium.plan(tmp_path / "absent", root=False, has_apt=False)
    assert no_apt is not None and "chromium" in no_apt


def test_make_test_runs_the_chromium_step_first(tmp_path: Path) -> None:
    """Through make, with the system Python and a dry run: the commands it would run as root, or
    (not root) the message and a failure."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    step = next(i for i, line in enumerate(lines) if "tests/ensure_chromium.py" in line)
    pytest_line = next(i for i, line in enumerate(lines) if "/pytest " in line)
    assert step < pytest_line
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ensure_chromium.py")]
        + ["--dry-run", "--path", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        check=False,
    )
    if os.geteuid() == 0 and shutil.which("apt-get"):
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "apt-get update -qq",
            "apt-get install -y -qq chromium",
        ]
    else:
        assert done.returncode == 1
        assert "apt-get install -y chromium" in done.stderr


def test_in_ci_a_missing_chromium_or_postgres_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests import browser, conftest

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "absent")
    monkeypatch.delenv(conftest.PG_ENV, raising=False)
    for ci, outcome in (("true", pytest.fail.Exception), ("", pytest.skip.Exception)):
        monkeypatch.setenv("CI", ci)
        monkeypatch.setattr(conftest, "IN_CI", ci == "true")
        with pytest.raises(outcome, match="is missing: `make test` installs it"):
            browser.require_chromium()
        with pytest.raises(outcome, match=conftest.PG_ENV):
            conftest.postgres_url()

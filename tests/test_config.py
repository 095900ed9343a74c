"""Settings: bad values stop startup naming the variable; the README table is generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from coolpapers.config import load_settings, settings_table
from coolpapers.errors import ConfigError

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("arxiv_categories", "cs.AI,cs.XX", "COOLPAPERS_ARXIV_CATEGORIES"),
        ("arxiv_rss_url", "ftp://example.org", "COOLPAPERS_ARXIV_RSS_URL"),
        ("arxiv_api_url", "not a url", "COOLPAPERS_ARXIV_API_URL"),
        ("arxiv_min_interval_s", -1, "COOLPAPERS_ARXIV_MIN_INTERVAL_S"),
        ("database_url", "nonsense", "COOLPAPERS_DATABASE_URL"),
    ],
)
def test_bad_setting_names_the_variable(field: str, value: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(**{field: value})


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOLPAPERS_ARXIV_CATEGORIES", "cs.NA, math")
    settings = load_settings()
    assert settings.ingest_specs == ["math.NA", "math"]
    assert settings.arxiv_min_interval_s == 3.0 and not settings.allow_private_networks


def test_all_means_every_archive() -> None:
    specs = load_settings(arxiv_categories="all").ingest_specs
    assert "cs" in specs and "hep-th" in specs and len(specs) == len(set(specs)) == 20


def test_readme_settings_table_is_current() -> None:
    text = README.read_text()
    start, end = "<!-- settings:start -->\n", "<!-- settings:end -->"
    assert start in text and end in text, "README lacks the generated settings table markers"
    current = text.split(start, 1)[1].split(end, 1)[0]
    assert current == settings_table(), "README settings table is stale: run `make readme`"


def test_secret_key_is_generated_once(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    key = settings.ensure_secret_key()
    assert len(key) >= 32 and settings.ensure_secret_key() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0

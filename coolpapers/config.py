"""Settings: every knob, from the environment (prefix ``COOLPAPERS_``), each with a one-line help.

The README's settings table is generated from this class (``coolpapers settings-table``); a test
fails when the two disagree.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coolpapers import taxonomy
from coolpapers.errors import ConfigError

ENV_PREFIX = "COOLPAPERS_"
SECRET_KEY_FILE = "secret_key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = Field(
        "",
        description="Any SQLAlchemy URL; empty means sqlite:///<DATA_DIR>/coolpapers.db. "
        "Postgres: postgresql+psycopg://user@host/db",
    )
    data_dir: Path = Field(Path("./data"), description="SQLite file, caches and the secret key")
    arxiv_categories: str = Field(
        "all",
        description="What the scheduler ingests: `all` (every archive) or a comma list of "
        "categories/archives",
    )
    arxiv_rss_url: str = Field("https://rss.arxiv.org", description="Base of /rss/<categories>")
    arxiv_api_url: str = Field(
        "https://export.arxiv.org/api/query", description="arXiv API for single papers / id lists"
    )
    arxiv_oai_url: str = Field(
        "https://oaipmh.arxiv.org/oai",
        description="arXiv's OAI-PMH endpoint (`import oai`, the metadata refresh)",
    )
    metadata_refresh: bool = Field(
        True,
        description="Once a day, harvest what arXiv changed since (new versions, DOIs, journal "
        "refs) for the papers stored and the categories ingested",
    )
    arxiv_web_url: str = Field(
        "https://arxiv.org", description="Base of /abs/, /pdf/ and /html/ links"
    )
    arxiv_min_interval_s: float = Field(
        3.0, ge=0.0, description="Polite gap between arXiv requests (one connection at a time)"
    )
    allow_private_networks: bool = Field(
        False,
        description="Let the configured URLs' host:port (arXiv, LLM) be loopback/private "
        "addresses; any other private destination stays refused (tests, a local LLM)",
    )
    site_url: str = Field(
        "http://127.0.0.1:8000", description="Public URL of this site named in the User-Agent"
    )
    base_url: str = Field(
        "", description="Public address in absolute links (Atom, citation_*); unset: the request's"
    )
    contact: str = Field(
        "admin@localhost", description="Contact named in the User-Agent sent to arXiv"
    )
    fetch_timeout_s: float = Field(30.0, gt=0, description="Connect/read timeout of one request")
    fetch_deadline_s: float = Field(
        120.0, gt=0, description="Overall deadline of one outbound request, body included"
    )
    fetch_max_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Cap on a decoded response body, in bytes"
    )
    fetch_max_attempts: int = Field(
        4, ge=1, description="Attempts per request before giving up (429/5xx/timeouts)"
    )
    poll_interval_min: int = Field(
        10, ge=1, description="Minutes between polls while today's listing is not in yet"
    )
    ingest_lease_s: int = Field(
        900,
        ge=30,
        description="Lease of a running ingest, renewed after each feed; a dead process's "
        "lease frees after this long",
    )
    page_size: int = Field(25, ge=1, le=1000, description="Papers per page on list pages")
    llm_base_url: str = Field(
        "", description="OpenAI-compatible endpoint (…/v1); the FAQ is off while unset"
    )
    llm_api_key: str = Field("", description="API key of the LLM endpoint")
    llm_api_key_file: Path | None = Field(
        None, description="File holding the API key (instead of LLM_API_KEY)"
    )
    llm_model: str = Field("", description="Model name sent to the LLM endpoint")
    llm_max_tokens_field: str = Field(
        "max_tokens",
        description="Request field for the output cap: max_tokens or max_completion_tokens",
    )
    llm_max_output_tokens: int = Field(4096, ge=64, description="Output cap of one answer")
    llm_send_temperature: bool = Field(
        False, description="Send LLM_TEMPERATURE (Kimi's newer models reject any temperature)"
    )
    llm_temperature: float = Field(0.3, ge=0, le=2, description="Sampling temperature, if sent")
    llm_extra_body: str = Field(
        "{}",
        description='Extra JSON merged into each request, e.g. {"thinking": {"type": "disabled"}}',
    )
    llm_input_token_budget: int = Field(
        100_000, ge=1000, description="Tokens of paper text sent at most (longer papers are cut)"
    )
    llm_concurrency: int = Field(1, ge=1, le=64, description="FAQ generations running at once")
    llm_prompt_mode: str = Field(
        "sequential",
        description="sequential: one question at a time in one conversation; single: all at once",
    )
    llm_connect_timeout_s: float = Field(10.0, gt=0, description="Connect timeout to the LLM")
    llm_stall_timeout_s: float = Field(
        180.0, gt=0, description="Longest silence between streamed chunks before giving up"
    )
    llm_deadline_s: float = Field(
        1800.0, gt=0, description="Wall-clock cap of one whole FAQ generation"
    )
    llm_max_output_chars: int = Field(
        0,
        ge=0,
        description="Characters one answer may stream before we cut it (a provider ignoring "
        "max_tokens); 0 = 8 x LLM_MAX_OUTPUT_TOKENS",
    )
    faq_label: str = Field("FAQ", description="Label of the FAQ button (papers.cool: Kimi)")
    faq_daily_quota: int = Field(
        20, ge=0, description="New FAQ generations per visitor per day (cached FAQs are free)"
    )
    llm_daily_token_budget: int = Field(
        3_000_000, ge=0, description="Tokens (in + out) per UTC day for new FAQs; 0 = no limit"
    )
    paper_cache_max_mb: int = Field(
        500, ge=1, description="Disk cache of downloaded paper HTML/PDF, in MiB"
    )
    pdf_memory_mb: int = Field(
        1024, ge=128, description="Memory a PDF's reader (a child process) may use, in MiB"
    )
    pdf_cpu_s: int = Field(
        60, ge=1, description="CPU seconds a PDF's reader may use (killed after twice that)"
    )
    pdf_max_pages: int = Field(500, ge=1, description="Pages of a PDF read at most")
    pdf_max_chars: int = Field(2_000_000, ge=1000, description="Characters of a PDF read at most")
    pdf_proxy_max_mb: int = Field(
        50, ge=1, le=1024, description="Largest PDF the inline viewer's proxy passes on, in MiB"
    )
    clicks_per_minute: int = Field(
        30, ge=1, description="[PDF]/[FAQ] clicks one visitor may count per minute"
    )
    feedback_url: str = Field(
        "", description="Where the bottom bar's Feedback button leads; unset hides it"
    )
    secret_key: str = Field(
        "", description="Signs cookies; generated into DATA_DIR on first run when unset"
    )
    auth: str = Field(
        "none",
        description="none (anonymous, stars in the browser), password (accounts: `coolpapers "
        "users add`), proxy (a header from TRUSTED_PROXIES names the member)",
    )
    public_read: bool = Field(
        True, description="With AUTH on: lists, papers and search readable without logging in"
    )
    auth_proxy_header: str = Field(
        "Remote-User", description="With AUTH=proxy: the header that names the member"
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Comma list of addresses or networks (CIDR) of reverse proxies whose "
        "X-Forwarded-For/-Proto (and, with AUTH=proxy, member header) are believed",
    )
    session_idle_h: float = Field(
        336.0, gt=0, description="A login ends after this many hours without a visit"
    )
    session_max_days: float = Field(
        30.0, gt=0, description="A login ends this many days after it began, visits or not"
    )
    login_attempts_per_minute: int = Field(
        10, ge=1, description="Failed logins per account and per address a minute (then 429)"
    )

    @field_validator("arxiv_categories")
    @classmethod
    def _known_categories(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "all":
            return "all"
        terms = [t.strip() for t in value.split(",") if t.strip()]
        if not terms:
            raise ValueError("empty; use `all` or a comma list such as cs.AI,cs.CL")
        unknown = [t for t in terms if taxonomy.canonical(t) is None]
        if unknown:
            raise ValueError(f"unknown category or archive: {', '.join(unknown)}")
        return ",".join(terms)

    @field_validator("arxiv_rss_url", "arxiv_api_url", "arxiv_oai_url", "arxiv_web_url", "site_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.strip().rstrip("/")

    @field_validator("llm_extra_body")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value or "{}")
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object")
        return value or "{}"

    @field_validator("llm_max_tokens_field")
    @classmethod
    def _tokens_field(cls, value: str) -> str:
        if value not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("must be max_tokens or max_completion_tokens")
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("none", "password", "proxy"):
            raise ValueError("must be none, password or proxy")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in (p.strip() for p in value.split(",")):
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError:
                    raise ValueError(f"not an address or network: {part!r}") from None
        return value

    @field_validator("auth_proxy_header")
    @classmethod
    def _header(cls, value: str) -> str:
        value = value.strip()
        if not value or not all(c.isalnum() or c == "-" for c in value):
            raise ValueError(f"not a header name: {value!r}")
        return value

    @field_validator("llm_prompt_mode")
    @classmethod
    def _prompt_mode(cls, value: str) -> str:
        if value not in ("sequential", "single"):
            raise ValueError("must be sequential or single")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.strip():
            return ""
        parts = urlsplit(value.strip())
        if parts.query or parts.fragment:
            raise ValueError(f"must be an address without query or fragment: {value!r}")
        return cls._http_url(value)

    @field_validator("llm_base_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        return cls._http_url(value) if value.strip() else ""

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        value = value.strip()
        if value and "://" not in value:
            raise ValueError(f"not a database URL: {value!r}")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'coolpapers.db'}"

    @property
    def ingest_specs(self) -> list[str]:
        """Feeds the scheduler fetches: one per archive for `all`, else one per listed term."""
        if self.arxiv_categories == "all":
            return [a.id for a in taxonomy.archives()]
        return [taxonomy.canonical(t) or t for t in self.arxiv_categories.split(",")]

    @property
    def ingested_categories(self) -> frozenset[str] | None:
        """The canonical categories the feeds bring in (an archive's all); None for `all`."""
        if self.arxiv_categories == "all":
            return None
        return frozenset().union(*(taxonomy.expand(t) for t in self.arxiv_categories.split(",")))

    @property
    def accounts_on(self) -> bool:
        """Members log in (password or proxy); off, the site is anonymous as papers.cool is."""
        return self.auth != "none"

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        parts = (p.strip() for p in self.trusted_proxies.split(","))
        return [ipaddress.ip_network(p, strict=False) for p in parts if p]

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    def llm_key(self) -> str:
        """The API key, from LLM_API_KEY or the file LLM_API_KEY_FILE names."""
        if self.llm_api_key or self.llm_api_key_file is None:
            return self.llm_api_key
        try:
            return self.llm_api_key_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"COOLPAPERS_LLM_API_KEY_FILE: cannot read it ({exc})") from None

    def ensure_secret_key(self) -> str:
        """The configured key, else one persisted in the data dir (created once)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment; a bad value becomes a ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ENV_PREFIX + ".".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid setting " + "; ".join(problems)) from None


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, Path):
            default = str(default)
        shown = f"`{default}`" if default not in ("", None) else "(unset)"
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {info.description} |")
    return "\n".join(rows) + "\n"

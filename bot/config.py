"""All settings, read once from the environment and ``.env``; the only module that reads either.

Names are the contract's (docs: README "Settings"). A bad value stops the program with one line
naming the setting; nothing below this module looks at ``os.environ``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError
from bot.privacy.secrets import masked_url

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(spec: str) -> frozenset[int]:
    """``mon-fri`` or ``mon,wed,fri`` (or mixed) -> weekday numbers, Monday = 0."""
    days: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"{part!r} is not a day or range of days like mon-fri")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
        days.update(span)
    if not days:
        raise ValueError("no days given")
    return frozenset(days)


class Settings(BaseSettings):
    # An empty value (``EMBEDDING_MODEL_DIR=`` as in .env.example) means "not set", not "".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # Slack
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_command: str = "/sales"
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)

    # LLM endpoints
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: str | None = None
    llm_model: str = "gpt-5-mini"
    private_llm_base_url: str | None = None
    private_llm_api_key: str | None = None
    private_llm_model: str | None = None
    privacy_default: Literal["standard", "private"] = "standard"
    privacy_enforced: bool = False
    pii_masking: bool = Field(
        False, description="mask emails and phone numbers sent to the standard endpoint"
    )
    llm_timeout_seconds: float = Field(60.0, gt=0, le=600)
    llm_retry_seconds: float = Field(30.0, ge=0, le=600, description="total time budget for retries")
    prompts_dir: Path | None = None
    history_token_limit: int = Field(1500, ge=0, le=100_000)

    # Knowledge base
    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = "text-embedding-3-small"
    embedding_model_dir: Path | None = None
    embedding_threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = all cores")
    embedding_precision: Literal["fp32", "int8"] = Field(
        "fp32", description="local embedder: fp32, or int8 (faster ingest; a store is built with one of them)"
    )
    chroma_path: Path = Path("./data/chroma")
    chroma_url: str | None = None
    cache_dir: Path = Path("./data/cache")
    # Retrieval tuning; defaults picked on SciFact's train split (bench/scifact.py, docs/benchmarks.md).
    search_dense_weight: float = Field(0.4, ge=0.0, le=1.0)
    search_bm25_k1: float = Field(1.2, gt=0.0, le=5.0)
    search_bm25_b: float = Field(0.4, ge=0.0, le=1.0)
    search_identifier_boost: float = Field(0.5, ge=0.0, le=10.0)
    search_candidates: int = Field(100, ge=10, le=2000)
    search_feedback_weight: float = Field(
        0.0, ge=0.0, le=0.5, description="how far the org's 👍/👎 on cited sources move the ranking"
    )
    search_query_rewrite: bool = Field(
        False,
        description="with an LLM configured, let it paraphrase each question for search (adds one call)",
    )
    index_refresh_seconds: float = Field(2.0, ge=0.0)
    # What one product doc may cost at ingest; a doc over a limit is reported and skipped (docs/ingest).
    doc_max_bytes: int = Field(50_000_000, ge=1, description="file size of one doc, checked before reading")
    doc_max_chars: int = Field(2_000_000, ge=1, description="text extracted from one doc")
    pdf_max_pages: int = Field(2_000, ge=1, description="pages of one PDF")
    pdf_max_page_bytes: int = Field(5_000_000, ge=1_000, description="decompressed content of one PDF page")

    # State, people, schedule
    state_url: str = "sqlite:///./data/state.db"
    admin_emails: str = ""
    digest_time: str = "08:00"
    digest_days: str = "mon-fri"

    # The Slack server (`closer serve`)
    slack_worker_threads: int = Field(16, ge=1, le=512, description="threads that run answers after the ack")
    slack_shutdown_seconds: float = Field(25.0, ge=0, le=600, description="grace on SIGTERM")
    slack_user_cache_seconds: float = Field(3600.0, ge=0, description="how long a profile email is cached")
    slack_memory_seconds: float = Field(
        900.0, ge=0, le=86_400, description="how long buttons remember a question, in process memory only"
    )
    slack_click_window_seconds: float = Field(3.0, ge=0.1, le=60, description="double clicks count once")
    slack_max_body_bytes: int = Field(
        1_048_576, ge=4096, le=64 * 1_048_576, description="larger requests to /slack/events get 413 unread"
    )
    slack_history_seconds: float = Field(
        3600.0, ge=0, le=86_400, description="how long a thread's recent standard-route turns stay in memory"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    # Deal digests (bot/digest, docs/digest.md)
    digest_scheduler: bool = Field(True, description="run the in-process digest scheduler in `closer serve`")
    digest_timezone: str | None = Field(
        None, description="IANA zone for reps without one on their Slack profile; unset = this machine's"
    )
    digest_closing_days: int = Field(14, ge=0, le=365, description="closing_soon: close date within N days")
    digest_stale_days: int = Field(14, ge=1, le=365, description="stale: no note on the deal for over N days")
    digest_retry_hours: int = Field(
        3, ge=0, le=23, description="retry failed digests hourly for N hours after DIGEST_TIME"
    )
    digest_suggestions: bool = Field(True, description="ask the LLM for a next step on flagged deals")

    # Live CRM sync (`closer sync hubspot|salesforce`, bot/crm_sync; README "Connect your CRM")
    hubspot_access_token: str | None = Field(None, description="private-app access token (pat-…)")
    hubspot_api_url: str = "https://api.hubapi.com"
    hubspot_api_version: str = Field("2026-09", pattern=r"^\d{4}-\d{2}$", description="dated API version")
    hubspot_search_per_second: float = Field(
        4.0, ge=0, le=100, description="search calls per second; 0 = no pacing"
    )
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_client_id: str | None = Field(None, description="connected app consumer key")
    salesforce_client_secret: str | None = Field(
        None, description="consumer secret (client credentials flow)"
    )
    salesforce_username: str | None = Field(None, description="integration user (JWT bearer flow)")
    salesforce_private_key_file: Path | None = Field(
        None, description="PEM key whose certificate is on the app"
    )
    salesforce_api_version: str = Field("62.0", pattern=r"^\d{2,3}\.0$")
    crm_sync_visibility: Literal["private", "public"] = "private"
    crm_sync_minutes: int = Field(0, ge=0, le=10_080, description="scheduled sync in `closer serve`; 0 = off")
    crm_sync_refresh_minutes: float = Field(
        60.0,
        ge=0,
        le=10_080,
        description="re-read HubSpot owners, pipelines, archived lists at most this often",
    )
    crm_retry_seconds: float = Field(120.0, ge=0, le=3600, description="time budget for retries of one call")
    crm_timeout_seconds: float = Field(60.0, gt=0, le=600)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        # slack-sdk joins method names onto the base URL: without the slash they are lost.
        return v if v.endswith("/") else v + "/"

    @field_validator(
        "chroma_url", "llm_base_url", "private_llm_base_url", "hubspot_api_url", "salesforce_login_url"
    )
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"{masked_url(v)!r} is not an http(s) URL")
        return v.rstrip("/")

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", v.strip())
        if not m:
            raise ValueError(f"{v!r} is not a time like 08:00")
        return f"{int(m.group(1)):02d}:{m.group(2)}"

    @field_validator("digest_days")
    @classmethod
    def _days(cls, v: str) -> str:
        parse_days(v)
        return v

    @field_validator("digest_timezone")
    @classmethod
    def _iana_zone(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        try:
            ZoneInfo(v.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone like Europe/Berlin") from None
        return v.strip()

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.admin_emails.split(",") if e.strip())

    @property
    def weekdays(self) -> frozenset[int]:
        return parse_days(self.digest_days)


def load_settings(**overrides: object) -> Settings:
    """Read settings; any problem becomes a :class:`SettingsError` naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except UnicodeDecodeError:
        raise SettingsError("settings file .env: is not UTF-8 text") from None
    except OSError as exc:
        raise SettingsError(f"settings file .env: cannot be read ({exc.strerror})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"setting {name}: {msg}") from None

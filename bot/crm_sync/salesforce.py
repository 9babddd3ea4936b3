"""Salesforce through ``simple-salesforce``: SOQL over the REST API, signed in by OAuth 2.0.

Sign-in (never username/password, which Salesforce retires): the JWT bearer flow
(``SALESFORCE_CLIENT_ID`` + ``SALESFORCE_USERNAME`` + ``SALESFORCE_PRIVATE_KEY_FILE``) or the client
credentials flow (``SALESFORCE_CLIENT_ID`` + ``SALESFORCE_CLIENT_SECRET``, My Domain login URL).
``simple_salesforce.SalesforceLogin`` supports both but always posts to
``https://{domain}.salesforce.com``; we build the same grant (the JWT exactly as it does) and post it
with its ``token_login`` to ``SALESFORCE_LOGIN_URL``, so My Domain, sandboxes and a test server work
alike. The session then talks to the ``instance_url`` the token response names.

Reading: ``SELECT …, IsDeleted WHERE SystemModstamp >= :since AND SystemModstamp < :until AND Id >
:after ORDER BY Id`` through ``queryAll``, paged by the ``nextRecordsUrl`` of each response (up to
2,000 records a call): changed and deleted records come in the same pages (Salesforce keeps deleted
ones about 15 days: a sync that has not run for longer should be ``--full``). Owners are
``Owner.Email``; teams are the members of ``OpportunityTeamMember`` / ``AccountTeamMember``, whose own
changes re-read the parent record.

Enhanced notes (``ContentNote``, what Lightning saves) have no ``SystemModstamp``: they are windowed by
``LastModifiedDate`` (which a deletion also moves). A note reaches its records through
``ContentDocumentLink`` rows, which Salesforce lets us query only filtered by the note ids
(``ContentDocumentId IN (…)``), so links are read per batch of changed notes: a note is attached to the
lowest-id opportunity it is linked to, else the lowest-id account, and its access follows that record
like any note. A note whose privacy on records is "Private" (``SharingPrivacy = 'P'``) is seen only by
its owner in Salesforce: it is not read (and removed if it was). Its body is the ``Content`` blob, one
``GET …/sobjects/ContentNote/{id}/Content`` per note (Salesforce has no batch read for blobs), read as
text from its HTML.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceResourceNotFound,
)
from simple_salesforce.login import token_login

from bot.config import Settings
from bot.errors import CrmError
from bot.knowledge.html_text import html_to_text
from bot.knowledge.problems import Problem

from .http import CallCounter, CrmHttpError, call, error_text
from .kept import Kept
from .source import Mapped, Page, Stream
from .stages import sync_stage

IN_LIST = 200  # ids per "IN (…)" clause, well under SOQL's length limit
OPPORTUNITY, ACCOUNT = "006", "001"  # Salesforce id prefixes

STREAMS = (
    Stream("Account", "account"),
    Stream("AccountTeamMember", None),
    Stream("Opportunity", "deal"),
    Stream("OpportunityTeamMember", None),
    Stream("Contact", "contact"),
    Stream("Task", "note"),
    Stream("Event", "note"),
    Stream("Note", "note"),
    Stream("ContentNote", "note"),
)
FIELDS = {
    "Account": "Id, Name, Industry, BillingCountry, Owner.Email, SystemModstamp",
    "AccountTeamMember": "Id, AccountId, SystemModstamp",
    "Opportunity": "Id, Name, AccountId, StageName, Amount, CloseDate, NextStep, IsClosed, IsWon, "
    "Probability, LastModifiedDate, Owner.Email, SystemModstamp",
    "OpportunityTeamMember": "Id, OpportunityId, SystemModstamp",
    "Contact": "Id, AccountId, Name, Title, Email, Phone, SystemModstamp",
    "Task": "Id, Subject, Description, WhatId, AccountId, ActivityDate, CreatedDate, Owner.Email, "
    "SystemModstamp",
    "Event": "Id, Subject, Description, WhatId, AccountId, ActivityDateTime, CreatedDate, Owner.Email, "
    "SystemModstamp",
    "Note": "Id, Title, Body, ParentId, CreatedDate, Owner.Email, SystemModstamp",
    "ContentNote": "Id, Title, SharingPrivacy, CreatedDate, Owner.Email, LastModifiedDate",
}
MODIFIED = {"ContentNote": "LastModifiedDate"}  # the field a stream is windowed by; else SystemModstamp
PRIVATE_NOTE = "P"  # ContentNote.SharingPrivacy: "Private on records" (only its owner sees it)


def soql_time(at: datetime, *, up: bool = False) -> str:
    """A SOQL datetime literal (whole seconds). ``up`` rounds a window's end up: what that lets in early
    is read again by the next run anyway (its window starts OVERLAP before this one's end)."""
    at = at.astimezone(UTC)
    if up and at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def quoted(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in ids)


def _more(sf: Salesforce, *, url: str, timeout: float) -> Any:
    return sf.query_more(url, identifier_is_url=True, timeout=timeout)


class MissingObject(CrmError):
    """The org has no such object, or the integration user may not read it (``INVALID_TYPE``)."""


def _error_code(content: Any) -> str:
    first = content[0] if isinstance(content, list) and content else content
    return str(first.get("errorCode") or "") if isinstance(first, dict) else ""


def _blob(sf: Salesforce, *, sobject: str, sid: str, field: str, timeout: float) -> bytes | None:
    """A record's blob field, or None if the record is gone (deleted since the query listed it)."""
    try:
        return bytes(getattr(sf, sobject).get_base64(sid, field, timeout=timeout))
    except SalesforceResourceNotFound:
        return None


def audience(login_url: str) -> str:
    """The JWT ``aud``: Salesforce wants its login server, also when signing in at a My Domain URL."""
    host = login_url.split("://", 1)[-1].split("/", 1)[0].lower()
    if host.endswith(".my.salesforce.com"):
        return "https://test.salesforce.com" if ".sandbox." in host else "https://login.salesforce.com"
    return login_url


def _email(record: dict[str, Any], relation: str) -> str:
    related = record.get(relation) or {}
    return str(related.get("Email") or "").strip().lower()


class SalesforceSource:
    name = "salesforce"
    streams: tuple[Stream, ...] = STREAMS

    def __init__(
        self, settings: Settings, counter: CallCounter, *, session: requests.Session | None = None
    ) -> None:
        if not settings.salesforce_client_id:
            raise CrmError("SALESFORCE_CLIENT_ID is not set (the connected app's consumer key; see README)")
        if not (settings.salesforce_client_secret or settings.salesforce_private_key_file):
            raise CrmError(
                "Salesforce sign-in needs SALESFORCE_PRIVATE_KEY_FILE and SALESFORCE_USERNAME (JWT bearer) "
                "or SALESFORCE_CLIENT_SECRET (client credentials)"
            )
        self.settings = settings
        self.counter = counter
        self.session = session or requests.Session()
        self.last_headers: dict[str, str] = {}
        self.session.hooks["response"].append(self._keep_headers)
        self._sf: Salesforce | None = None
        self.notices: list[Problem] = []

    def _keep_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_headers = dict(response.headers)  # Retry-After survives simple-salesforce's exceptions

    # --- sign-in -----------------------------------------------------------------------------------------

    def _grant(self) -> tuple[dict[str, str], dict[str, str] | None]:
        s = self.settings
        if s.salesforce_private_key_file:
            if not s.salesforce_username:
                raise CrmError(
                    "SALESFORCE_USERNAME is needed with SALESFORCE_PRIVATE_KEY_FILE (JWT bearer flow)"
                )
            try:
                key = s.salesforce_private_key_file.read_bytes()
            except OSError as exc:
                raise CrmError(f"SALESFORCE_PRIVATE_KEY_FILE cannot be read ({exc.strerror})") from None
            expires = datetime.now(UTC) + timedelta(minutes=3)
            claims = {
                "iss": s.salesforce_client_id,
                "sub": s.salesforce_username,
                "aud": audience(s.salesforce_login_url),
                "exp": f"{expires.timestamp():.0f}",
            }
            try:
                assertion = jwt.encode(claims, key, algorithm="RS256")
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                raise CrmError(
                    f"SALESFORCE_PRIVATE_KEY_FILE is not a usable RSA private key ({exc})"
                ) from None
            return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}, None
        basic = base64.b64encode(f"{s.salesforce_client_id}:{s.salesforce_client_secret}".encode()).decode()
        return {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"}

    def client(self) -> Salesforce:
        if self._sf is not None:
            return self._sf
        data, headers = self._grant()
        url = f"{self.settings.salesforce_login_url}/services/oauth2/token"

        def sign_in() -> tuple[str, str]:
            try:
                with warnings.catch_warnings():
                    # its "approve this app" hint names login.salesforce.com whatever the login URL; ours
                    # below says the same in one line
                    warnings.simplefilter("ignore", UserWarning)
                    token, instance = token_login(
                        url,
                        data,
                        "login",
                        self.settings.salesforce_client_id or "",
                        headers,
                        None,
                        self.session,
                    )
            except SalesforceAuthenticationFailed as exc:
                said = (
                    exc.content.decode("utf-8", "replace")
                    if isinstance(exc.content, bytes)
                    else str(exc.content)
                )
                hint = ""
                if "approved" in said:
                    hint = " — pre-authorize the integration user for the connected app (README)"
                raise CrmError(f"Salesforce refused the sign-in ({exc.code}): {said[:200]}{hint}") from None
            return str(token), str(instance)

        token, instance = call(
            sign_in,
            crm="Salesforce",
            what="sign-in",
            budget=self.settings.crm_retry_seconds,
            counter=self.counter,
        )
        self._sf = Salesforce(
            session_id=token,
            instance=instance,
            version=self.settings.salesforce_api_version,
            session=self.session,
        )
        return self._sf

    # --- HTTP --------------------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[Salesforce], Any]) -> Any:
        sf = self.client()

        def once() -> Any:
            try:
                return fn(sf)
            except SalesforceError as exc:
                if _error_code(exc.content) == "INVALID_TYPE":
                    raise MissingObject(f"Salesforce: {error_text(exc.content)} ({what})") from None
                raise CrmHttpError(exc.status, self.last_headers, error_text(exc.content)) from None

        return call(
            once, crm="Salesforce", what=what, budget=self.settings.crm_retry_seconds, counter=self.counter
        )

    def query(self, what: str, soql: str, *, deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Every page of a SOQL query, following ``nextRecordsUrl``."""
        timeout = self.settings.crm_timeout_seconds
        page = self._call(what, lambda sf: sf.query(soql, include_deleted=deleted, timeout=timeout))
        while True:
            yield list(page.get("records", []))
            nxt = page.get("nextRecordsUrl")
            if page.get("done", True) or not nxt:
                return
            page = self._call(what, partial(_more, url=str(nxt), timeout=timeout))

    def query_ids(self, what: str, template: str, ids: list[str]) -> list[dict[str, Any]]:
        """``template`` has ``{ids}`` where an ``IN (…)`` list goes; ids are sent in slices."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), IN_LIST):
            for page in self.query(what, template.format(ids=quoted(ids[i : i + IN_LIST]))):
                out += page
        return out

    # --- once per run ------------------------------------------------------------------------------------

    def prepare(self, kept: Kept) -> None:
        self.client()  # SOQL reads owners and teams with each record: nothing to keep between runs

    # --- reading -----------------------------------------------------------------------------------------

    def _window(self, stream: Stream, since: datetime | None, until: datetime) -> str:
        stamp = MODIFIED.get(stream.name, "SystemModstamp")
        where = f"{stamp} < {soql_time(until, up=True)}"
        return where if since is None else f"{stamp} >= {soql_time(since)} AND {where}"

    def pages(
        self, stream: Stream, *, since: datetime | None, until: datetime, after_id: str | None
    ) -> Iterator[Page]:
        where = self._window(stream, since, until)
        if after_id:
            where += f" AND Id > {quoted([after_id])}"
        soql = f"SELECT {FIELDS[stream.name]}, IsDeleted FROM {stream.name} WHERE {where} ORDER BY Id"
        # queryAll: deleted rows come in the same pages as changed ones, so deletions cost no query of
        # their own. A team member removed changes its parent's access: team streams keep those rows.
        for records in self._unless_missing(stream.name, self.query(stream.name, soql, deleted=True)):
            if not records:
                continue
            last = str(records[-1]["Id"])
            if stream.kind is None:
                yield Page(records, last)
            else:
                gone = [str(r["Id"]) for r in records if r.get("IsDeleted")]
                yield Page([r for r in records if not r.get("IsDeleted")], last, gone=gone)

    def deleted(self, stream: Stream, *, since: datetime | None, until: datetime) -> list[str]:
        return []  # pages() reports them (``Page.gone``)

    def _unless_missing(
        self, sobject: str, pages: Iterator[list[dict[str, Any]]]
    ) -> Iterator[list[dict[str, Any]]]:
        """``pages``, or none if the org lacks ``sobject``."""
        try:
            yield from pages
        except MissingObject as exc:
            self._missing(sobject, exc)

    def _missing(self, sobject: str, exc: MissingObject) -> None:
        """An object the org lacks (team selling or Notes off, or the user may not read it): the rest of
        the sync goes on, and the run says what was not read."""
        notice = Problem(
            f"salesforce {sobject}", None, f"not read: {exc} — see README for what the user needs"
        )
        if notice not in self.notices:
            self.notices.append(notice)

    def _team(self, kind: str, ids: list[str]) -> dict[str, set[str]]:
        parent = "AccountId" if kind == "Account" else "OpportunityId"
        template = f"SELECT {parent}, User.Email FROM {kind}TeamMember WHERE {parent} IN ({{ids}})"
        try:
            rows = self.query_ids(f"{kind}TeamMember", template, ids)
        except MissingObject as exc:
            self._missing(f"{kind}TeamMember", exc)
            return {}
        out: dict[str, set[str]] = {}
        for row in rows:
            email = _email(row, "User")
            if email:
                out.setdefault(str(row[parent]), set()).add(email)
        return out

    # --- mapping -----------------------------------------------------------------------------------------

    def map(self, stream: Stream, records: list[dict[str, Any]]) -> Mapped:
        out = Mapped()
        name = stream.name
        if name == "AccountTeamMember":
            ids = sorted({str(r["AccountId"]) for r in records})
            accounts = self.query_ids(
                "Account", f"SELECT {FIELDS['Account']} FROM Account WHERE Id IN ({{ids}})", ids
            )
            self._accounts(accounts, out)
        elif name == "OpportunityTeamMember":
            ids = sorted({str(r["OpportunityId"]) for r in records})
            opportunities = self.query_ids(
                "Opportunity",
                f"SELECT {FIELDS['Opportunity']} FROM Opportunity WHERE Id IN ({{ids}})",
                ids,
            )
            self._opportunities(opportunities, out)
        elif name == "Account":
            self._accounts(records, out)
        elif name == "Opportunity":
            self._opportunities(records, out)
        elif name == "Contact":
            self._contacts(records, out)
        elif name == "ContentNote":
            self._activities(name, self._content_notes(records, out), out)
        else:
            self._activities(name, records, out)
        return out

    def _access(self, record: dict[str, Any], team: set[str]) -> dict[str, str]:
        owner = _email(record, "Owner")
        return {
            "owner_email": owner,
            "team": ";".join(sorted(team - {owner})),
            "visibility": self.settings.crm_sync_visibility,
        }

    def _accounts(self, records: list[dict[str, Any]], out: Mapped) -> None:
        teams = self._team("Account", [str(r["Id"]) for r in records])
        for r in records:
            aid = str(r["Id"])
            row = {
                "account_id": aid,
                "name": r.get("Name") or "",
                "industry": r.get("Industry") or "",
                "region": r.get("BillingCountry") or "",
                **self._access(r, teams.get(aid, set())),
                "crm_source": "salesforce:Account",
            }
            out.add("account", f"salesforce Account {aid}", row)

    def _opportunities(self, records: list[dict[str, Any]], out: Mapped) -> None:
        teams = self._team("Opportunity", [str(r["Id"]) for r in records])
        for r in records:
            oid = str(r["Id"])
            if not r.get("AccountId"):
                out.skipped.append(("deal", oid, "has no account"))
                continue
            prob = r.get("Probability")
            stage = sync_stage(
                "salesforce",
                str(r.get("StageName") or ""),
                closed=r.get("IsClosed"),
                won=r.get("IsWon"),
                probability=float(prob) if prob is not None else None,
            )
            row = {
                "deal_id": oid,
                "account_id": str(r["AccountId"]),
                "name": r.get("Name") or "",
                **self._access(r, teams.get(oid, set())),
                "stage": stage,
                "amount": "" if r.get("Amount") is None else str(r["Amount"]),
                "currency": "",
                "close_date": r.get("CloseDate") or "",
                "next_step": r.get("NextStep") or "",
                "updated_at": r.get("LastModifiedDate") or "",
                "crm_stage": r.get("StageName") or "",
                "crm_source": "salesforce:Opportunity",
            }
            out.add("deal", f"salesforce Opportunity {oid}", row)

    def _contacts(self, records: list[dict[str, Any]], out: Mapped) -> None:
        for r in records:
            cid = str(r["Id"])
            if not r.get("AccountId"):
                out.skipped.append(("contact", cid, "has no account"))
                continue
            row = {
                "contact_id": cid,
                "account_id": str(r["AccountId"]),
                "name": r.get("Name") or "",
                "title": r.get("Title") or "",
                "email": r.get("Email") or "",
                "phone": r.get("Phone") or "",
                "crm_source": "salesforce:Contact",
            }
            out.add("contact", f"salesforce Contact {cid}", row)

    def _content_notes(self, records: list[dict[str, Any]], out: Mapped) -> list[dict[str, Any]]:
        """Enhanced notes as classic ``Note`` records (``ParentId``, ``Body`` as text), or skipped."""
        links: dict[str, list[str]] = {}
        for link in self.query_ids(
            "ContentDocumentLink",
            "SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
            "WHERE ContentDocumentId IN ({ids})",
            [str(r["Id"]) for r in records if r.get("SharingPrivacy") != PRIVATE_NOTE],
        ):
            links.setdefault(str(link["ContentDocumentId"]), []).append(str(link["LinkedEntityId"]))
        notes = []
        for r in records:
            nid = str(r["Id"])
            if r.get("SharingPrivacy") == PRIVATE_NOTE:
                out.skipped.append(("note", nid, "is private to its owner (note privacy on records)"))
                continue
            linked = links.get(nid, [])
            parent = min((i for i in linked if i.startswith(OPPORTUNITY)), default="") or min(
                (i for i in linked if i.startswith(ACCOUNT)), default=""
            )
            if not parent:
                out.skipped.append(("note", nid, "is related to no opportunity or account"))
                continue
            body = self._note_body(nid)
            if body is None:
                out.skipped.append(("note", nid, "was deleted while being read"))
                continue
            notes.append({**r, "ParentId": parent, "Body": html_to_text(body)})
        return notes

    def _note_body(self, nid: str) -> str | None:
        """An enhanced note's ``Content`` blob (its HTML), through simple-salesforce's blob read."""
        blob = self._call("ContentNote body", partial(_blob, sobject="ContentNote", sid=nid, field="Content",
                                                      timeout=self.settings.crm_timeout_seconds))  # fmt: skip
        return None if blob is None else bytes(blob).decode("utf-8", "replace")

    def _activities(self, name: str, records: list[dict[str, Any]], out: Mapped) -> None:
        parent_field = "ParentId" if name in ("Note", "ContentNote") else "WhatId"
        for r in records:
            nid, parent = str(r["Id"]), str(r.get(parent_field) or "")
            deal = parent if parent.startswith(OPPORTUNITY) else ""
            # On an opportunity: its account comes from the opportunity (the shared builder reads it).
            account = "" if deal else parent if parent.startswith(ACCOUNT) else str(r.get("AccountId") or "")
            if not deal and not account:
                out.skipped.append(("note", nid, "is related to no opportunity or account"))
                continue
            when = r.get("ActivityDateTime") or r.get("ActivityDate") or r.get("CreatedDate") or ""
            row = {
                "note_id": nid,
                "account_id": account,
                "deal_id": deal,
                "author_email": _email(r, "Owner"),
                "created_at": str(when).replace("+0000", "Z"),
                "kind": {"Task": "task", "Event": "meeting"}.get(name, "note"),
                "subject": r.get("Subject") or r.get("Title") or "",
                "body": r.get("Description") or r.get("Body") or "",
                "crm_source": f"salesforce:{name}",
            }
            out.add("note", f"salesforce {name} {nid}", row)

    def check(self) -> str:
        sf = self.client()
        list(self.query("Opportunity", "SELECT Id FROM Opportunity LIMIT 1"))
        version = self.settings.salesforce_api_version
        return f"signed in to {sf.sf_instance} (API v{version}); opportunities readable"

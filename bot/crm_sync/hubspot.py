"""HubSpot through ``hubspot-api-client``, on HubSpot's dated API paths.

hubspot-api-client 12.0.0 (the newest release) generates its typed clients only for the numbered
paths (``/crm/v3/objects/…``, ``/crm/v4/associations/…``) that HubSpot retires in 2027. Its generic
request builder (``hubspot.utils.requests.http_request_builder.Request``, what ``HubSpot.api_request``
uses) takes any path and applies the client's base URL and private-app token, so every call here
goes to the dated paths of ``HUBSPOT_API_VERSION`` (default 2026-09) through it:

- ``POST /crm/objects/{v}/{companies|deals|contacts|notes}/search`` — changed records
- ``GET  /crm/objects/{v}/{type}?archived=true`` — archived (deleted) records
- ``POST /crm/associations/{v}/{from}/{to}/batch/read`` — deal→company, note→deal, note→company
- ``GET  /crm/owners/{v}`` — owner id → email and teams
- ``GET  /crm/pipelines/{v}/deals`` — stage id → label, closed/won

We send the request ourselves with a ``requests.Session`` (``api_request`` has no timeout and no
connection reuse), so a stalled call fails after ``CRM_TIMEOUT_SECONDS`` and is retried.

Search paging: results are sorted by ``hs_object_id`` and each page is a fresh query with
``hs_object_id > last id`` (keyset paging), 200 records a call. The search API caps any query at
10,000 results and its ``after`` is an offset, which skips records when the result set shifts while
paging; a keyset never reaches the cap and never skips. The time window is a filter on the
modification date (``hs_lastmodifieddate``; ``lastmodifieddate`` for contacts).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from hubspot import HubSpot
from hubspot.utils.requests.http_request_builder import Request

from bot.config import Settings
from bot.errors import CrmError
from bot.knowledge.html_text import html_to_text
from bot.knowledge.problems import Problem

from .http import CallCounter, CrmHttpError, call, error_text
from .kept import Kept
from .pacing import Pacer
from .source import OVERLAP, Mapped, Page, Stream
from .stages import sync_stage

SEARCH_LIMIT = 200  # the search API's largest page
LIST_LIMIT = 100  # the list (archived) and owners endpoints' largest page
ASSOC_BATCH = 1000  # inputs per associations batch read

STREAMS = (
    Stream("companies", "account"),
    Stream("deals", "deal"),
    Stream("contacts", "contact"),
    Stream("notes", "note"),
)
MODIFIED = {"companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate",
            "contacts": "lastmodifieddate", "notes": "hs_lastmodifieddate"}  # fmt: skip
ACCESS = ["hubspot_owner_id", "hs_all_owner_ids", "hubspot_team_id", "hs_all_team_ids"]
PROPERTIES = {
    "companies": ["name", "industry", "country", "state", *ACCESS],
    "deals": [
        *("dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate"),
        *("hs_next_step", "hs_lastmodifieddate"),
        *ACCESS,
    ],
    "contacts": ["firstname", "lastname", "jobtitle", "email", "phone", "associatedcompanyid"],
    "notes": ["hs_note_body", "hs_timestamp", "hubspot_owner_id"],
}
PRIMARY_DEAL_COMPANY = 5  # HubSpot-defined association type "Primary" deal → company


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _when(stamp: str | None) -> datetime:
    """A HubSpot timestamp; a missing or unreadable one counts as the latest possible."""
    try:
        return datetime.fromisoformat(str(stamp)).astimezone(UTC)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def _ids(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


class HubSpotSource:
    name = "hubspot"
    streams: tuple[Stream, ...] = STREAMS

    def __init__(
        self, settings: Settings, counter: CallCounter, *, session: requests.Session | None = None
    ) -> None:
        if not settings.hubspot_access_token:
            raise CrmError("HUBSPOT_ACCESS_TOKEN is not set (a private app's access token; see README)")
        self.settings = settings
        self.counter = counter
        self.client = HubSpot(access_token=settings.hubspot_access_token, base_url=settings.hubspot_api_url)
        self.version = settings.hubspot_api_version
        self.session = session or requests.Session()
        self.search_pacer = Pacer(settings.hubspot_search_per_second)
        self.owners: dict[str, str] = {}  # owner id -> email ("" for an owner without one)
        self.team_members: dict[str, set[str]] = {}  # team id -> emails
        self.stages: dict[str, tuple[str, bool | None, bool | None, float | None]] = {}
        self.kept: Kept | None = None
        self.notices: list[Problem] = []  # nothing so far: HubSpot answers 403 for a missing scope
        self.renewed: set[str] = set()

    # --- HTTP --------------------------------------------------------------------------------------------

    def _call(self, what: str, method: str, path: str, *, qs: dict[str, Any] | None = None,
              body: Any = None) -> Any:  # fmt: skip
        options: dict[str, Any] = {"method": method, "path": path}
        if qs:
            options["qs"] = qs
        if body is not None:
            options["body"] = body
        request = Request(self.client.config, options)

        def send() -> Any:
            r = self.session.request(
                request.get_method(),
                request.get_url(),
                timeout=self.settings.crm_timeout_seconds,
                **request.get_options_for_sending(),
            )
            if r.status_code >= 400 or (r.status_code != 207 and r.status_code >= 300):
                try:
                    message = error_text(r.json())
                except ValueError:
                    message = r.text[:200]
                raise CrmHttpError(r.status_code, r.headers, message)
            return r.json() if r.content else {}

        return call(
            send, crm="HubSpot", what=what, budget=self.settings.crm_retry_seconds, counter=self.counter
        )

    # --- once per run ------------------------------------------------------------------------------------

    def prepare(self, kept: Kept) -> None:
        """Owners and pipelines as kept between runs (``bot.crm_sync.kept``): HubSpot has no "changed
        since" for them. A record naming an owner, team or stage they lack reads them again."""
        self.kept, self.renewed = kept, set()
        self._owners(kept.get("owners", self._read_owners))
        self._stages(kept.get("pipelines", self._read_pipelines))

    def _read_owners(self) -> dict[str, dict[str, Any]]:
        """``{"emails": owner id -> email ("" if none), "teams": owner id -> team ids}``."""
        emails: dict[str, str] = {}
        teams: dict[str, list[str]] = {}
        after: str | None = None
        while True:
            qs: dict[str, Any] = {"limit": LIST_LIMIT}
            if after:
                qs["after"] = after
            page = self._call("owners", "GET", f"/crm/owners/{self.version}", qs=qs)
            for owner in page.get("results", []):
                oid = str(owner["id"])
                emails[oid] = str(owner.get("email") or "").strip().lower()
                teams[oid] = [str(team["id"]) for team in owner.get("teams") or []]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return {"emails": emails, "teams": teams}

    def _owners(self, kept: dict[str, dict[str, Any]]) -> None:
        self.owners = dict(kept["emails"])
        self.team_members = {}
        for oid, teams in kept["teams"].items():
            for team in teams:
                members = self.team_members.setdefault(team, set())
                if self.owners.get(oid):
                    members.add(self.owners[oid])

    def _read_pipelines(self) -> dict[str, list[Any]]:
        """Stage id -> [label, closed, won, probability] over every deal pipeline."""
        out: dict[str, list[Any]] = {}
        pipelines = self._call("deal pipelines", "GET", f"/crm/pipelines/{self.version}/deals")
        for pipeline in pipelines.get("results", []):
            for stage in pipeline.get("stages", []):
                meta = stage.get("metadata") or {}
                closed = str(meta["isClosed"]).lower() == "true" if "isClosed" in meta else None
                prob = float(meta["probability"]) if meta.get("probability") not in (None, "") else None
                won = prob is not None and prob >= 1.0 if closed else None
                out[str(stage["id"])] = [str(stage.get("label") or stage["id"]), closed, won, prob]
        return out

    def _stages(self, kept: dict[str, list[Any]]) -> None:
        self.stages = {
            sid: (str(label), closed, won, prob) for sid, (label, closed, won, prob) in kept.items()
        }

    def _know(self, owners: set[str], teams: set[str], stages: set[str]) -> None:
        """Read owners/pipelines again (once a run) if a batch names ids the kept copy lacks."""
        assert self.kept is not None, "prepare() first"
        if (owners - self.owners.keys() or teams - self.team_members.keys()) and "owners" not in self.renewed:
            self.renewed.add("owners")
            self._owners(self.kept.renew("owners", self._read_owners))
        if stages - self.stages.keys() and "pipelines" not in self.renewed:
            self.renewed.add("pipelines")
            self._stages(self.kept.renew("pipelines", self._read_pipelines))

    # --- reading -----------------------------------------------------------------------------------------

    def pages(self, stream: Stream, *, since: datetime | None, until: datetime,
              after_id: str | None) -> Iterator[Page]:  # fmt: skip
        modified = MODIFIED[stream.name]
        while True:
            filters = [{"propertyName": modified, "operator": "LT", "value": _ms(until)}]
            if since is not None:
                filters.append({"propertyName": modified, "operator": "GTE", "value": _ms(since)})
            if after_id is not None:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": after_id})
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": PROPERTIES[stream.name],
                "limit": SEARCH_LIMIT,
            }
            self.search_pacer.wait()
            page = self._call(f"{stream.name} (search)", "POST",
                              f"/crm/objects/{self.version}/{stream.name}/search", body=body)  # fmt: skip
            results = page.get("results", [])
            if not results:
                return
            after_id = str(results[-1]["id"])
            yield Page(results, after_id, page.get("total"))
            if len(results) < SEARCH_LIMIT or int(page.get("total", 0)) <= len(results):
                return

    def deleted(self, stream: Stream, *, since: datetime | None, until: datetime) -> list[str]:
        """Archived records. HubSpot lists them all, by id, with no "archived since" filter: reading the
        list costs a call per 100 archived records whatever changed, so it is read at most every
        CRM_SYNC_REFRESH_MINUTES (what was archived since the last reading is removed then)."""
        assert self.kept is not None, "prepare() first"
        due, last = self.kept.deletions_due(stream.name)
        if not due:
            return []
        start = last - OVERLAP if last is not None else since
        out: list[str] = []
        after: str | None = None
        while True:
            qs: dict[str, Any] = {"archived": "true", "limit": LIST_LIMIT, "properties": "hs_object_id"}
            if after:
                qs["after"] = after
            page = self._call(
                f"archived {stream.name}", "GET", f"/crm/objects/{self.version}/{stream.name}", qs=qs
            )
            for record in page.get("results", []):
                if start is None or _when(record.get("archivedAt")) >= start:
                    out.append(str(record["id"]))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                self.kept.deletions_known(stream.name, until)
                return out

    def associations(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> dict[str, list[tuple[str, set[int]]]]:
        """``id -> [(associated id, association type ids)]``, every page of every record."""
        out: dict[str, list[tuple[str, set[int]]]] = {}
        todo = [{"id": i} for i in ids]
        while todo:
            inputs, todo = todo[:ASSOC_BATCH], todo[ASSOC_BATCH:]
            page = self._call(f"{from_type}→{to_type} associations", "POST",
                              f"/crm/associations/{self.version}/{from_type}/{to_type}/batch/read",
                              body={"inputs": inputs})  # fmt: skip
            for result in page.get("results", []):
                fid = str(result["from"]["id"])
                for to in result.get("to", []):
                    types = {int(t["typeId"]) for t in to.get("associationTypes", []) if "typeId" in t}
                    out.setdefault(fid, []).append((str(to["toObjectId"]), types))
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    todo.append({"id": fid, "after": after})
        return out

    # --- mapping -----------------------------------------------------------------------------------------

    def _access(self, props: dict[str, Any]) -> dict[str, str]:
        owner = self.owners.get(str(props.get("hubspot_owner_id") or ""), "")
        people = {self.owners[o] for o in _ids(props.get("hs_all_owner_ids")) if self.owners.get(o)}
        for team in {*_ids(props.get("hubspot_team_id")), *_ids(props.get("hs_all_team_ids"))}:
            people |= self.team_members.get(team, set())
        people.discard(owner)
        return {"owner_email": owner, "team": ";".join(sorted(people)),
                "visibility": self.settings.crm_sync_visibility}  # fmt: skip

    def map(self, stream: Stream, records: list[dict[str, Any]]) -> Mapped:
        props = [r.get("properties") or {} for r in records]
        self._know(
            {o for p in props for o in (*_ids(p.get("hubspot_owner_id")), *_ids(p.get("hs_all_owner_ids")))},
            {t for p in props for t in (*_ids(p.get("hubspot_team_id")), *_ids(p.get("hs_all_team_ids")))},
            {str(p["dealstage"]) for p in props if p.get("dealstage")},
        )
        out = Mapped()
        mappers = {"companies": self._companies, "deals": self._deals, "contacts": self._contacts}
        mappers.get(stream.name, self._notes)(records, out, f"hubspot:{stream.name}")
        return out

    def _companies(self, records: list[dict[str, Any]], out: Mapped, origin: str) -> None:
        for r in records:
            p = r.get("properties") or {}
            row = {
                "account_id": str(r["id"]),
                "name": p.get("name") or "",
                "industry": p.get("industry") or "",
                "region": p.get("country") or p.get("state") or "",
                **self._access(p),
                "crm_source": origin,
            }
            out.add("account", f"hubspot company {r['id']}", row)

    def _deals(self, records: list[dict[str, Any]], out: Mapped, origin: str) -> None:
        companies = self.associations("deals", "companies", [str(r["id"]) for r in records])
        for r in records:
            p, did = r.get("properties") or {}, str(r["id"])
            links = companies.get(did, [])
            primary = [c for c, types in links if PRIMARY_DEAL_COMPANY in types] or [c for c, _ in links]
            if not primary:
                out.skipped.append(("deal", did, "has no associated company"))
                continue
            value = str(p.get("dealstage") or "")
            label, closed, won, prob = self.stages.get(value, (value, None, None, None))
            row = {
                "deal_id": did,
                "account_id": primary[0],
                "name": p.get("dealname") or "",
                **self._access(p),
                "stage": sync_stage("hubspot", label, closed=closed, won=won, probability=prob),
                "amount": p.get("amount") or "",
                "currency": p.get("deal_currency_code") or "",
                "close_date": (p.get("closedate") or "")[:10],
                "next_step": p.get("hs_next_step") or "",
                "updated_at": p.get("hs_lastmodifieddate") or r.get("updatedAt") or "",
                "crm_stage": label,
                "crm_source": origin,
            }
            out.add("deal", f"hubspot deal {did}", row)

    def _contacts(self, records: list[dict[str, Any]], out: Mapped, origin: str) -> None:
        for r in records:
            p, cid = r.get("properties") or {}, str(r["id"])
            company = str(p.get("associatedcompanyid") or "").strip()  # HubSpot's primary company
            if not company:
                out.skipped.append(("contact", cid, "has no company"))
                continue
            row = {
                "contact_id": cid,
                "account_id": company,
                "name": " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x),
                "title": p.get("jobtitle") or "",
                "email": p.get("email") or "",
                "phone": p.get("phone") or "",
                "crm_source": origin,
            }
            out.add("contact", f"hubspot contact {cid}", row)

    def _notes(self, records: list[dict[str, Any]], out: Mapped, origin: str) -> None:
        ids = [str(r["id"]) for r in records]
        deals = self.associations("notes", "deals", ids)
        # A note on a deal belongs to the deal's company (the shared builder takes it from the deal):
        # only notes on no deal need their companies read.
        companies = self.associations("notes", "companies", [i for i in ids if not deals.get(i)])
        for r in records:
            p, nid = r.get("properties") or {}, str(r["id"])
            # Closer keeps one deal or one account per note: the lowest id, so the choice is stable.
            deal = min((d for d, _ in deals.get(nid, [])), key=int, default="")
            company = "" if deal else min((c for c, _ in companies.get(nid, [])), key=int, default="")
            if not deal and not company:
                out.skipped.append(("note", nid, "is attached to no deal or company"))
                continue
            row = {
                "note_id": nid,
                "account_id": company,
                "deal_id": deal,
                "author_email": self.owners.get(str(p.get("hubspot_owner_id") or ""), ""),
                "created_at": p.get("hs_timestamp") or r.get("createdAt") or "",
                "kind": "note",
                "subject": "",
                "body": html_to_text(p.get("hs_note_body") or ""),
                "crm_source": origin,
            }
            out.add("note", f"hubspot note {nid}", row)

    def check(self) -> str:
        page = self._call("owners", "GET", f"/crm/owners/{self.version}", qs={"limit": 1})
        body = {"filterGroups": [], "properties": ["dealname"], "limit": 1}
        self._call("deals (search)", "POST", f"/crm/objects/{self.version}/deals/search", body=body)
        owners = "owners" if page.get("results") else "no owners returned"
        return (
            f"API {self.version} at {self.settings.hubspot_api_url}: token accepted; deals readable, {owners}"
        )

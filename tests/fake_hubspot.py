"""A fake HubSpot CRM API over real HTTP on 127.0.0.1, shaped like HubSpot's documented responses.

Dated paths only (``/crm/objects/{version}/…``, ``/crm/associations/{version}/…``, ``/crm/owners/
{version}``, ``/crm/pipelines/{version}/deals``); a numbered path (``/crm/v3/…``) gets 404. Behaves like
the real thing where the sync depends on it:

- private-app bearer token, else 401 ``INVALID_AUTHENTICATION``;
- search: filterGroups (AND inside a group, OR across), one sort, ``limit`` ≤ 200, ``after`` is an
  offset, and no query pages past 10,000 results (400, as HubSpot does);
- list ``?archived=true`` with ``paging.next.after`` cursors; archived records vanish from search;
- associations batch read: ≤ 1,000 inputs, a page of ``assoc_page`` targets per record with
  ``paging.next.after``, inputs without associations reported in ``errors`` with HTTP 207;
- owners (with teams) paged; deal pipelines with stage metadata.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fake_vendor import Answer, Call, FakeVendor

SEARCH_CAP = 10_000  # HubSpot's; a test may lower it on an instance (search_cap)
TYPES = ("companies", "deals", "contacts", "notes")
MODIFIED = {"companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate",
            "contacts": "lastmodifieddate", "notes": "hs_lastmodifieddate"}  # fmt: skip
PIPELINE = [
    ("appointmentscheduled", "Appointment Scheduled", "false", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "false", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "false", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "false", "0.8"),
    ("contractsent", "Contract Sent", "false", "0.9"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _ms(value: str) -> int:
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Obj:
    id: str
    props: dict[str, str]
    created: str
    archived_at: str | None = None


@dataclass
class FakeHubSpot(FakeVendor):
    token: str = "pat-na1-test"
    version: str = "2026-09"
    assoc_page: int = 100
    search_cap: int = SEARCH_CAP
    clock: datetime = field(default_factory=lambda: datetime(2020, 1, 1, tzinfo=UTC))
    shift: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict[str, Obj]] = {t: {} for t in TYPES}
        self.assoc: dict[tuple[str, str], dict[str, dict[str, set[int]]]] = {}
        self.owners: list[dict[str, Any]] = []
        self.pipeline = list(PIPELINE)
        self._ids = itertools.count(1001)

    # --- building the portal --------------------------------------------------------------------------------

    def tick(self) -> str:
        """Now, as HubSpot stamps writes (wall clock; several writes may share a millisecond), minus
        :meth:`backdate`'s shift."""
        self.clock = datetime.now(UTC) - self.shift
        return iso(self.clock)

    def backdate(self, hours: float) -> None:
        """Move every stamp so far, and the clock, ``hours`` into the past (an org with history)."""
        delta = timedelta(hours=hours)
        with self.lock:
            for objs in self.objects.values():
                for o in objs.values():
                    for key in ("createdate", *set(MODIFIED.values())):
                        if key in o.props:
                            o.props[key] = iso(
                                datetime.fromisoformat(o.props[key].replace("Z", "+00:00")) - delta
                            )
                    o.created = iso(datetime.fromisoformat(o.created.replace("Z", "+00:00")) - delta)
            self.shift += delta

    def add_owner(self, email: str, *, teams: tuple[str, ...] = ()) -> str:
        oid = str(500 + len(self.owners))
        self.owners.append({"id": oid, "email": email, "type": "PERSON", "firstName": email.split("@")[0],
                            "lastName": "", "userId": int(oid) * 10, "archived": False,
                            "createdAt": iso(self.clock), "updatedAt": iso(self.clock),
                            "teams": [{"id": t, "name": f"Team {t}", "primary": i == 0} for i, t in enumerate(teams)]})  # fmt: skip
        return oid

    def add(self, kind: str, props: dict[str, str], *, oid: str | None = None) -> str:
        oid = oid or str(next(self._ids))
        now = self.tick()
        props = {**props, "hs_object_id": oid, "createdate": now, MODIFIED[kind]: now}
        with self.lock:
            self.objects[kind][oid] = Obj(oid, props, now)
        return oid

    def modify(self, kind: str, oid: str, **props: str) -> None:
        with self.lock:
            obj = self.objects[kind][oid]
            obj.props.update(props)
            obj.props[MODIFIED[kind]] = self.tick()

    def archive(self, kind: str, oid: str) -> None:
        with self.lock:
            self.objects[kind][oid].archived_at = self.tick()

    def associate(self, from_kind: str, from_id: str, to_kind: str, to_id: str, type_id: int) -> None:
        with self.lock:
            self.assoc.setdefault((from_kind, to_kind), {}).setdefault(from_id, {})[to_id] = {type_id}
            back = self.assoc.setdefault((to_kind, from_kind), {}).setdefault(to_id, {})
            back[from_id] = {type_id + 1}

    def dissociate(self, from_kind: str, from_id: str, to_kind: str) -> None:
        with self.lock:
            for to_id in self.assoc.get((from_kind, to_kind), {}).pop(from_id, {}):
                self.assoc.get((to_kind, from_kind), {}).get(to_id, {}).pop(from_id, None)

    # --- HTTP --------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Answer:
        if call.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"status": "error", "category": "INVALID_AUTHENTICATION", "correlationId": "c0ffee",
                         "message": "Authentication credentials not found."}, {}  # fmt: skip
        parts = call.path.strip("/").split("/")
        v = self.version
        with self.lock:
            if parts[:3] == ["crm", "objects", v] and len(parts) == 5 and parts[4] == "search":
                return self._search(parts[3], call.body or {})
            if parts[:3] == ["crm", "objects", v] and len(parts) == 4 and call.method == "GET":
                return self._list(parts[3], call.query)
            if parts[:3] == ["crm", "associations", v] and parts[5:] == ["batch", "read"]:
                return self._assoc(parts[3], parts[4], call.body or {})
            if parts == ["crm", "owners", v]:
                return self._owners(call.query)
            if parts == ["crm", "pipelines", v, "deals"]:
                stages = [{"id": sid, "label": label, "displayOrder": i, "archived": False,
                           "metadata": {"isClosed": closed, "probability": prob}}
                          for i, (sid, label, closed, prob) in enumerate(self.pipeline)]  # fmt: skip
                return 200, {"results": [{"id": "default", "label": "Sales Pipeline", "stages": stages}]}, {}
        return (
            404,
            {"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"no route {call.path}"},
            {},
        )

    def _match(self, obj: Obj, group: list[dict[str, Any]]) -> bool:
        for f in group:
            have = obj.props.get(f["propertyName"])
            op, want = f["operator"], f.get("value")
            if op == "HAS_PROPERTY":
                ok = bool(have)
            elif have in (None, ""):
                ok = op == "NEQ"
            elif f["propertyName"] == "hs_object_id" or f["propertyName"].endswith("date"):
                a, b = _ms(str(have)), _ms(str(want))
                ok = {"EQ": a == b, "NEQ": a != b, "LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]
            else:
                ok = {"EQ": have == want, "NEQ": have != want}[op]
            if not ok:
                return False
        return True

    def _search(self, kind: str, body: dict[str, Any]) -> Answer:
        limit = int(body.get("limit", 10))
        if limit > 200:
            return (
                400,
                {"status": "error", "category": "VALIDATION_ERROR", "message": "limit must be <= 200"},
                {},
            )
        after = int(body.get("after") or 0)
        if after + limit > self.search_cap:
            return 400, {"status": "error", "category": "VALIDATION_ERROR",
                         "message": f"paging past {self.search_cap} results is not allowed"}, {}  # fmt: skip
        groups = [g.get("filters", []) for g in body.get("filterGroups", [])]
        found = [o for o in self.objects[kind].values()
                 if o.archived_at is None and (not groups or any(self._match(o, g) for g in groups))]  # fmt: skip
        for s in body.get("sorts", [])[:1]:
            prop = s["propertyName"]
            key = (lambda o: int(o.id)) if prop == "hs_object_id" else (lambda o, p=prop: o.props.get(p, ""))
            found.sort(key=key, reverse=s.get("direction") == "DESCENDING")
        if not body.get("sorts"):
            found.sort(key=lambda o: int(o.id))
        page = found[after : after + limit]
        wanted = body.get("properties") or []
        out: dict[str, Any] = {"total": len(found), "results": [self._public(o, wanted) for o in page]}
        if after + limit < len(found):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out, {}

    def _public(self, o: Obj, wanted: list[str]) -> dict[str, Any]:
        base = ["hs_object_id", "createdate", "hs_lastmodifieddate"]
        props = {p: o.props.get(p) for p in [*base, *wanted] if p in o.props or p in wanted}
        return {"id": o.id, "properties": props, "createdAt": o.created,
                "updatedAt": o.props.get("hs_lastmodifieddate") or o.props.get("lastmodifieddate"),
                "archived": o.archived_at is not None, **({"archivedAt": o.archived_at} if o.archived_at else {})}  # fmt: skip

    def _list(self, kind: str, query: dict[str, list[str]]) -> Answer:
        archived = query.get("archived", ["false"])[0] == "true"
        limit = min(int(query.get("limit", ["10"])[0]), 100)
        after = int(query.get("after", ["0"])[0])
        found = sorted((o for o in self.objects[kind].values() if (o.archived_at is not None) == archived),
                       key=lambda o: int(o.id))  # fmt: skip
        page = [o for o in found if int(o.id) > after][:limit]
        out: dict[str, Any] = {"results": [self._public(o, []) for o in page]}
        if page and page[-1] is not found[-1]:
            out["paging"] = {"next": {"after": page[-1].id, "link": "ignored"}}
        return 200, out, {}

    def _assoc(self, from_kind: str, to_kind: str, body: dict[str, Any]) -> Answer:
        inputs = body.get("inputs", [])
        if len(inputs) > 1000:
            return (
                400,
                {"status": "error", "category": "VALIDATION_ERROR", "message": "at most 1000 inputs"},
                {},
            )
        table = self.assoc.get((from_kind, to_kind), {})
        results, errors = [], []
        for item in inputs:
            fid, after = str(item["id"]), int(item.get("after") or 0)
            targets = sorted(table.get(fid, {}).items(), key=lambda kv: int(kv[0]))
            live = [(t, types) for t, types in targets if t in self.objects[to_kind]
                    and self.objects[to_kind][t].archived_at is None]  # fmt: skip
            if not live:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "subCategory": "NO_ASSOCIATIONS_FOUND",
                               "message": f"No {to_kind} is associated with {from_kind} {fid}.",
                               "context": {"fromObjectId": [fid]}})  # fmt: skip
                continue
            page = live[after : after + self.assoc_page]
            result: dict[str, Any] = {"from": {"id": fid}, "to": [
                {"toObjectId": int(t), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": ty, "label": "Primary" if ty == 5 else None} for ty in sorted(types)]}
                for t, types in page]}  # fmt: skip
            if after + self.assoc_page < len(live):
                result["paging"] = {"next": {"after": str(after + self.assoc_page), "link": None}}
            results.append(result)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": iso(self.clock),
                               "completedAt": iso(self.clock)}  # fmt: skip
        if errors:
            out["errors"], out["numErrors"] = errors, len(errors)
            return 207, out, {}
        return 200, out, {}

    def _owners(self, query: dict[str, list[str]]) -> Answer:
        limit = min(int(query.get("limit", ["100"])[0]), 100)
        after = int(query.get("after", ["0"])[0])
        page = self.owners[after : after + limit]
        out: dict[str, Any] = {"results": page}
        if after + limit < len(self.owners):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return 200, out, {}

"""A fake Salesforce over real HTTPS on 127.0.0.1, shaped like Salesforce's documented REST responses.

- ``POST /services/oauth2/token``: the JWT bearer grant (the assertion's RS256 signature is checked
  against the connected app's certificate key, with ``iss``/``sub``/``aud``/``exp``) and the client
  credentials grant (HTTP Basic client id and secret); errors as ``{"error", "error_description"}``.
- ``GET /services/data/vXX.X/query?q=`` and ``/queryAll?q=``: the SOQL this sync sends (SELECT fields,
  relationship fields like ``Owner.Email``, WHERE with AND of ``=``, ``<``, ``>=``, ``>`` and ``IN``,
  ORDER BY Id, LIMIT), ``batch`` records a response with ``nextRecordsUrl`` to
  ``/services/data/vXX.X/query/<locator>-<offset>``; deleted records only through ``queryAll``.
- enhanced notes: ``ContentNote`` has the fields of Salesforce's object reference and no others (no
  ``SystemModstamp``: a query naming a field the object lacks gets 400 ``INVALID_FIELD``); its
  ``Content`` comes back from a query as the URL of the blob, and ``GET …/sobjects/ContentNote/{id}/
  Content`` answers the note's HTML as binary. ``ContentDocumentLink`` ties a note to its records (and to
  its owner); a query on it without a filter on ``Id``, ``ContentDocumentId`` or ``LinkedEntityId``
  (``=`` or ``IN``) gets 400 ``MALFORMED_QUERY`` (Salesforce's implementation restriction). Deleting a
  note deletes its links.
- a bad or missing bearer token: 401 ``INVALID_SESSION_ID``.

Records are plain dicts per sObject; ``SystemModstamp`` and ``IsDeleted`` are kept by the fake.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import ipaddress
import itertools
import re
import ssl
import tempfile
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fake_vendor import Answer, Call, FakeVendor

PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006", "User": "005", "Task": "00T", "Event": "00U",
          "Note": "002", "OpportunityTeamMember": "00q", "AccountTeamMember": "01M", "ContentNote": "069",
          "ContentDocumentLink": "06A"}  # fmt: skip
# Objects whose fields the fake checks (Salesforce's object reference); others accept any field.
SCHEMA = {
    "ContentNote": {"Id", "Title", "Content", "TextPreview", "ContentSize", "FileType", "FileExtension",
                    "SharingPrivacy", "IsReadOnly", "IsDeleted", "OwnerId", "CreatedById", "CreatedDate",
                    "LastModifiedById", "LastModifiedDate", "ContentModifiedDate", "LatestContentId",
                    "LatestPublishedVersionId", "LastViewedDate"},
    "ContentDocumentLink": {"Id", "ContentDocumentId", "LinkedEntityId", "ShareType", "Visibility", "IsDeleted",
                            "SystemModstamp"},
}  # fmt: skip
BLOB = {"ContentNote": "Content"}  # blob fields: a query answers their URL, GET on it answers the bytes
LINK_FILTERS = ("Id", "ContentDocumentId", "LinkedEntityId")
CLAUSE = re.compile(r"^([\w.]+)\s*(=|<|>=|>|IN)\s*(.+)$", re.S)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sf_time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("+0000", "+00:00").replace("Z", "+00:00"))


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files in ``folder``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1)).not_valid_after(_now() + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "fake-sf.crt", folder / "fake-sf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def rsa_key_pem() -> tuple[bytes, Any]:
    """A private key (PEM, for SALESFORCE_PRIVATE_KEY_FILE) and its public key (the app's certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key.public_key()


class FakeSalesforce(FakeVendor):
    def __init__(self, *, folder: Path | None = None, client_id: str = "3MVG9-test-app", public_key: Any = None,
                 username: str = "integration@acme.example", client_secret: str | None = None,
                 version: str = "62.0", batch: int = 2000) -> None:  # fmt: skip
        self.folder = folder or Path(tempfile.mkdtemp())
        self.cert, key = tls_files(self.folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        super().__init__(tls=context)
        self.client_id, self.public_key, self.username = client_id, public_key, username
        self.client_secret, self.version, self.batch = client_secret, version, batch
        self.tokens: set[str] = set()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIX}
        self.cursors: dict[str, list[dict[str, Any]]] = {}
        self._seq = itertools.count(1)

    # --- building the org -----------------------------------------------------------------------------------

    def add(self, sobject: str, **fields: Any) -> str:
        sid = f"{PREFIX[sobject]}{'0' * 6}{next(self._seq):06d}AAA"  # an 18-character id, in increasing order
        stamp = sf_time(_now())
        with self.lock:
            self.objects[sobject][sid] = {"Id": sid, **fields, "IsDeleted": False, "SystemModstamp": stamp,
                                          "CreatedDate": fields.get("CreatedDate", stamp), "LastModifiedDate": stamp}  # fmt: skip
        return sid

    def without(self, *sobjects: str) -> None:
        """An org without these objects (team selling or Notes off, or not readable by the user)."""
        with self.lock:
            for name in sobjects:
                del self.objects[name]

    def user(self, email: str) -> str:
        return self.add("User", Email=email, Name=email.split("@")[0])

    def modify(self, sobject: str, sid: str, **fields: Any) -> None:
        with self.lock:
            stamp = sf_time(_now())
            self.objects[sobject][sid].update(fields, SystemModstamp=stamp, LastModifiedDate=stamp)

    def delete(self, sobject: str, sid: str) -> None:
        self.modify(sobject, sid, IsDeleted=True)
        if sobject == "ContentNote":  # its links go with it
            for lid, link in list(self.objects["ContentDocumentLink"].items()):
                if link["ContentDocumentId"] == sid and not link["IsDeleted"]:
                    self.modify("ContentDocumentLink", lid, IsDeleted=True)

    def content_note(self, owner: str, title: str, content: str, *, on: tuple[str, ...] = (),
                     private: bool = False) -> str:  # fmt: skip
        """An enhanced note by ``owner`` (a User id), as Lightning saves it: HTML content, a link to its
        owner and one to each record in ``on``; ``private`` is "Private" note privacy on records."""
        nid = self.add("ContentNote", Title=title, OwnerId=owner, CreatedById=owner, LastModifiedById=owner,
                       FileType="SNOTE", FileExtension="snote", IsReadOnly=False,
                       SharingPrivacy="P" if private else "N", **self._content(content))  # fmt: skip
        self.add("ContentDocumentLink", ContentDocumentId=nid, LinkedEntityId=owner, ShareType="I",
                 Visibility="AllUsers")  # fmt: skip
        for record in on:
            self.link(nid, record)
        return nid

    def link(self, note: str, record: str) -> str:
        return self.add("ContentDocumentLink", ContentDocumentId=note, LinkedEntityId=record, ShareType="V",
                        Visibility="AllUsers")  # fmt: skip

    def edit_note(self, nid: str, content: str) -> None:
        self.modify("ContentNote", nid, **self._content(content))

    @staticmethod
    def _content(content: str) -> dict[str, Any]:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", content)).split())
        return {"Content": content.encode(), "ContentSize": len(content.encode()), "TextPreview": text[:255]}

    def backdate(self, hours: float) -> None:
        with self.lock:
            for records in self.objects.values():
                for r in records.values():
                    for key in ("SystemModstamp", "LastModifiedDate", "CreatedDate"):
                        r[key] = sf_time(_parse_time(r[key]) - dt.timedelta(hours=hours))

    # --- HTTP --------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Answer:
        if call.path == "/services/oauth2/token" and call.method == "POST":
            return self._token(call)
        auth = call.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
        base = f"/services/data/v{self.version}/"
        if not call.path.startswith(base):
            return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}
        rest = call.path.removeprefix(base).strip("/")
        with self.lock:
            if rest in ("query", "queryAll"):
                return self._query(call.query.get("q", [""])[0], deleted=rest == "queryAll")
            if rest.startswith(("query/", "queryAll/")):
                return self._more(rest.split("/", 1)[1])
            blob = re.fullmatch(r"sobjects/(\w+)/(\w+)/(\w+)", rest)
            if blob and call.method == "GET" and BLOB.get(blob[1]) == blob[3]:
                record = self.objects[blob[1]].get(blob[2])
                if record is None or record["IsDeleted"]:
                    return (
                        404,
                        [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                        {},
                    )
                return 200, bytes(record[blob[3]]), {"Content-Type": "application/octetstream"}
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], {}

    def _token(self, call: Call) -> Answer:
        form = call.body or {}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(form.get("assertion", ""), self.public_key, algorithms=["RS256"],
                                    audience=f"{self.url}", options={"require": ["exp", "iss", "sub", "aud"]})  # fmt: skip
            except jwt.PyJWTError as exc:
                return (
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": f"invalid assertion ({type(exc).__name__})",
                    },
                    {},
                )
            if claims["iss"] != self.client_id:
                return (
                    400,
                    {"error": "invalid_client_id", "error_description": "client identifier invalid"},
                    {},
                )
            if claims["sub"] != self.username:
                return (
                    400,
                    {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
                    {},
                )
        elif grant == "client_credentials":
            basic = call.headers.get("authorization", "").removeprefix("Basic ")
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if self.client_secret is None or basic != expected:
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
        else:
            return (
                400,
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                {},
            )
        token = f"00D000000000001!{uuid.uuid4().hex}"
        self.tokens.add(token)
        return 200, {"access_token": token, "instance_url": self.url, "id": f"{self.url}/id/00D/005",
                     "token_type": "Bearer", "issued_at": "0", "signature": "fake"}, {}  # fmt: skip

    def _where(self, clause: str) -> list[tuple[str, str, Any]]:
        out = []
        for part in re.split(r"\s+AND\s+", clause.strip(), flags=re.I) if clause.strip() else []:
            m = CLAUSE.match(part.strip())
            if not m:
                raise ValueError(f"unsupported clause {part!r}")
            field, op, raw = m.groups()
            raw = raw.strip()
            value: Any
            if op == "IN":
                value = [v.strip().strip("'") for v in raw.strip("()").split(",") if v.strip()]
            elif raw.startswith("'"):
                value = raw.strip("'").replace("\\'", "'")
            elif raw.lower() in ("true", "false"):
                value = raw.lower() == "true"
            else:
                value = _parse_time(raw)
            out.append((field, op, value))
        return out

    def _get(self, record: dict[str, Any], field: str) -> Any:
        if "." not in field:
            return record.get(field)
        relation, sub = field.split(".", 1)
        ref = record.get(f"{relation}Id")
        target = next((objs[ref] for objs in self.objects.values() if ref in objs), None) if ref else None
        return None if target is None else target.get(sub)

    def _matches(self, record: dict[str, Any], clauses: list[tuple[str, str, Any]]) -> bool:
        for field, op, value in clauses:
            have = self._get(record, field)
            if isinstance(value, dt.datetime):
                have = _parse_time(str(have))
            if (op == "=" and have != value) or (op == "IN" and have not in value):
                return False
            if (
                (op == "<" and not have < value)
                or (op == ">=" and not have >= value)
                or (op == ">" and not have > value)
            ):
                return False
        return True

    def _public(self, sobject: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{self.version}/sobjects/{sobject}/{record['Id']}",
            }
        }
        for field in fields:
            if "." in field:
                relation, sub = field.split(".", 1)
                value = self._get(record, field)
                out[relation] = None if value is None else {"attributes": {"type": "User"}, sub: value}
            elif BLOB.get(sobject) == field:
                out[field] = f"/services/data/v{self.version}/sobjects/{sobject}/{record['Id']}/{field}"
            else:
                out[field] = record.get(field)
        return out

    def _query(self, soql: str, *, deleted: bool) -> Answer:
        m = re.match(r"^SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER BY\s+Id)?(?:\s+LIMIT\s+(\d+))?$",
                     soql.strip(), re.S | re.I)  # fmt: skip
        if not m:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": f"cannot parse {soql[:80]!r}"}], {}
        if m.group(2) not in self.objects:  # an object the org lacks (a feature off, or no permission)
            return (
                400,
                [{"errorCode": "INVALID_TYPE", "message": f"sObject type '{m.group(2)}' is not supported."}],
                {},
            )
        fields = [f.strip() for f in m.group(1).split(",")]
        sobject, where, limit = m.group(2), m.group(3) or "", m.group(4)
        try:
            clauses = self._where(where)
        except ValueError as exc:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": str(exc)}], {}
        known = SCHEMA.get(sobject)
        for field in [*fields, *(c[0] for c in clauses)] if known is not None else []:
            if (field.split(".", 1)[0] + "Id" if "." in field else field) not in known:
                return 400, [{"errorCode": "INVALID_FIELD",
                              "message": f"No such column '{field}' on entity '{sobject}'."}], {}  # fmt: skip
        if sobject == "ContentDocumentLink" and not any(
            f in LINK_FILTERS and op in ("=", "IN") for f, op, _ in clauses
        ):
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": "Implementation restriction: ContentDocumentLink "
                          "requires a filter by a single Id on ContentDocumentId or LinkedEntityId using the equals "
                          "operator or multiple Id's using the IN operator."}], {}  # fmt: skip
        rows = [r for r in sorted(self.objects[sobject].values(), key=lambda r: r["Id"])
                if (deleted or not r["IsDeleted"]) and self._matches(r, clauses)]  # fmt: skip
        if limit:
            rows = rows[: int(limit)]
        records = [self._public(sobject, r, fields) for r in rows]
        locator = f"01g{uuid.uuid4().hex[:12]}"
        self.cursors[locator] = records
        return self._page(locator, 0)

    def _more(self, ident: str) -> Answer:
        locator, _, offset = ident.rpartition("-")
        if locator not in self.cursors:
            return 400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}], {}
        return self._page(locator, int(offset))

    def _page(self, locator: str, offset: int) -> Answer:
        records = self.cursors[locator]
        page = records[offset : offset + self.batch]
        done = offset + self.batch >= len(records)
        out: dict[str, Any] = {"totalSize": len(records), "done": done, "records": page}
        if not done:
            out["nextRecordsUrl"] = f"/services/data/v{self.version}/query/{locator}-{offset + self.batch}"
        return 200, out, {}

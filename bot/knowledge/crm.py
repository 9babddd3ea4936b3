"""Read a CRM export (CSV or JSON Lines, files found by name) into access-checked records.

Each row becomes one :class:`Record`. Access follows the contract: accounts and deals carry their own
(owner, team, visibility); contacts take their account's; notes take their deal's, or their account's
when they have no deal. A bad row is reported with its file and line and skipped; the rest load.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.knowledge.chunking import Section, pack_chunks
from bot.knowledge.problems import Problem
from bot.knowledge.records import Access, Chunk, Record, SourceType, Visibility, chunk_id

STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost")
COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name", "industry", "region", "owner_email", "team", "visibility"),
    "deals": (
        "deal_id",
        "account_id",
        "name",
        "owner_email",
        "team",
        "stage",
        "amount",
        "currency",
        "close_date",
        "next_step",
        "updated_at",
        "visibility",
    ),
    "contacts": ("contact_id", "account_id", "name", "title", "email", "phone"),
    "notes": ("note_id", "account_id", "deal_id", "author_email", "created_at", "kind", "subject", "body"),
}
SOURCE_TYPE: dict[str, SourceType] = {
    "accounts": "account", "deals": "deal", "contacts": "contact", "notes": "note",
}  # fmt: skip

# Looks up access already in the store for a parent not in this export: (source_type, id) -> Access.
ParentLookup = Callable[[SourceType, str], "tuple[Access, str] | None"]


class RowError(ValueError):
    """A row that cannot be loaded; the message is shown after "file:line:"."""


@dataclass
class CrmExport:
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    kinds: set[SourceType] = field(default_factory=set)  # the source types whose files were present


class FileError(ValueError):
    """A whole file cannot be read; carries the line where reading stopped, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError("is not UTF-8 text", line) from None


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; a row that cannot be parsed carries an ``__error__`` key."""
    text = _text(path)
    if path.suffix == ".jsonl":
        yield from _json_rows(text)
    else:
        yield from _csv_rows(text)


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, {"__error__": f"not valid JSON ({exc.msg})"}
            continue
        if not isinstance(obj, dict):
            yield n, {"__error__": "a line must hold a JSON object"}
            continue
        yield n, {str(k): "" if v is None else str(v) for k, v in obj.items()}


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    line = 1
    for values in reader:
        # line_num counts physical lines read so far, so a quoted multi-line field keeps its start line.
        start, line = line, reader.line_num + 1
        if header is None:
            header = [h.strip() for h in values]
            yield start, {"__header__": "\t".join(header)}
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield start, {"__error__": f"has {len(values)} fields, the header has {len(header)}"}
            continue
        yield start, dict(zip(header, values, strict=True))


def _people(spec: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in spec.replace(",", ";").split(";") if p.strip())


def _access(row: dict[str, str]) -> Access:
    vis = row.get("visibility", "").strip().lower() or "private"
    if vis not in ("public", "private"):
        raise RowError(f"visibility must be public or private, not {vis!r}")
    visibility: Visibility = "public" if vis == "public" else "private"
    return Access(
        visibility, owner=row.get("owner_email", "").strip().lower(), team=_people(row.get("team", ""))
    )


def _check_date(value: str, column: str, *, with_time: bool = False) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        if with_time:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{column} {value!r} is not an ISO 8601 date") from None
    return value


def _amount(value: str) -> str:
    value = value.strip().replace(",", "")
    if not value:
        return ""
    try:
        float(value)
    except ValueError:
        raise RowError(f"amount {value!r} is not a number") from None
    return value


def _money(amount: str, currency: str) -> str:
    if not amount:
        return "amount unknown"
    num = float(amount)
    shown = f"{num:,.0f}" if num.is_integer() else f"{num:,.2f}"
    return f"{shown} {currency}".strip()


def _one_chunk(kind: SourceType, source_id: str, text: str) -> tuple[Chunk, ...]:
    return (Chunk(chunk_id(kind, source_id, 0), text, 0),)


class _Builder:
    """Turns validated rows into records, resolving names and inherited access."""

    def __init__(self, lookup: ParentLookup | None) -> None:
        self.lookup = lookup
        self.accounts: dict[str, tuple[Access, str]] = {}  # id -> (access, name)
        self.deals: dict[str, tuple[Access, str, str]] = {}  # id -> (access, name, account_id)

    def _parent(self, kind: SourceType, pid: str) -> tuple[Access, str] | None:
        if kind == "account" and pid in self.accounts:
            return self.accounts[pid]
        if kind == "deal" and pid in self.deals:
            access, name, _ = self.deals[pid]
            return access, name
        return self.lookup(kind, pid) if self.lookup else None

    def account(self, row: dict[str, str]) -> Record:
        aid, name = row["account_id"], row["name"].strip() or row["account_id"]
        access = _access(row)
        self.accounts[aid] = (access, name)
        text = (
            f"Account: {name}\nIndustry: {row['industry']} · Region: {row['region']}"
            f"\nOwner: {access.owner or 'unassigned'}"
        )
        return Record(
            "account", aid, name, access, _one_chunk("account", aid, text), account_id=aid, fields=row
        )

    def deal(self, row: dict[str, str]) -> Record:
        did, aid = row["deal_id"], row["account_id"]
        parent = self._parent("account", aid)
        if parent is None:
            raise RowError(f"account {aid!r} is not in this export or the store")
        stage = row["stage"].strip().lower()
        if stage not in STAGES:
            raise RowError(f"stage {row['stage']!r} is not one of {', '.join(STAGES)}")
        fields = dict(row, stage=stage, amount=_amount(row["amount"]))
        fields["close_date"] = _check_date(row["close_date"], "close_date")
        fields["updated_at"] = _check_date(row["updated_at"], "updated_at", with_time=True)
        access, name = _access(row), row["name"].strip() or did
        self.deals[did] = (access, name, aid)
        money = _money(fields["amount"], row["currency"])
        text = (
            f"Deal: {name} — {parent[1]}\nStage: {stage} · Amount: {money}"
            f" · Close date: {fields['close_date'] or 'not set'}\nOwner: {access.owner or 'unassigned'}"
            f"\nNext step: {row['next_step'].strip() or 'none recorded'}"
        )
        return Record(
            "deal", did, name, access, _one_chunk("deal", did, text),
            deal_id=did, account_id=aid, updated_at=fields["updated_at"], fields=fields,
        )  # fmt: skip

    def contact(self, row: dict[str, str]) -> Record:
        cid, aid = row["contact_id"], row["account_id"]
        parent = self._parent("account", aid)
        if parent is None:
            raise RowError(f"account {aid!r} is not in this export or the store")
        name = row["name"].strip() or cid
        text = (
            f"Contact: {name}, {row['title'].strip() or 'no title'} at {parent[1]}"
            f"\nEmail: {row['email'].strip() or 'none'} · Phone: {row['phone'].strip() or 'none'}"
        )
        title = f"{name} ({parent[1]})"
        return Record(
            "contact", cid, title, parent[0], _one_chunk("contact", cid, text), account_id=aid, fields=row
        )

    def note(self, row: dict[str, str], *, max_words: int) -> Record:
        nid, aid, did = row["note_id"], row["account_id"].strip(), row["deal_id"].strip()
        created = _check_date(row["created_at"], "created_at", with_time=True)
        if did:
            parent = self._parent("deal", did)
            if parent is None:
                raise RowError(f"deal {did!r} is not in this export or the store")
            if not aid and did in self.deals:
                aid = self.deals[did][2]
        else:
            parent = self._parent("account", aid)
            if parent is None:
                raise RowError(f"account {aid!r} is not in this export or the store")
        access, about = parent
        kind = row["kind"].strip() or "note"
        subject = row["subject"].strip()
        title = f"{subject or kind.capitalize() + ' note'} — {about}"
        header = (
            f"Note ({kind}, {created[:10] or 'undated'}) on {about}: {subject}\nAuthor: {row['author_email']}"
        )
        texts = pack_chunks([Section((), row["body"])], max_words=max_words, header=header) or [header]
        chunks = tuple(Chunk(chunk_id("note", nid, i), t, i) for i, t in enumerate(texts))
        fields = dict(row, created_at=created)
        return Record(
            "note", nid, title, access, chunks, deal_id=did, account_id=aid, updated_at=created, fields=fields
        )


def _find(root: Path, stem: str) -> Path | None:
    for suffix in (".csv", ".jsonl"):
        path = root / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def read_crm(root: Path, *, lookup: ParentLookup | None = None, max_words: int = 160) -> CrmExport:
    """Read ``accounts``, ``deals``, ``contacts`` and ``notes`` (``.csv`` or ``.jsonl``) under ``root``.

    Parents are read first so children can inherit access; ``lookup`` resolves parents that were
    loaded by an earlier ingest and are not in this export.
    """
    out = CrmExport()
    builder = _Builder(lookup)
    for stem in ("accounts", "deals", "contacts", "notes"):
        path = _find(root, stem)
        if path is None:
            continue
        out.kinds.add(SOURCE_TYPE[stem])
        _read_file(path, stem, builder, out, max_words=max_words)
    return out


def _read_file(path: Path, stem: str, builder: _Builder, out: CrmExport, *, max_words: int) -> None:
    id_col = COLUMNS[stem][0]
    seen: dict[str, int] = {}
    makers: dict[str, Callable[[dict[str, str]], Record]] = {
        "accounts": builder.account,
        "deals": builder.deal,
        "contacts": builder.contact,
        "notes": lambda row: builder.note(row, max_words=max_words),
    }
    make = makers[stem]
    try:
        for line, raw in _rows(path):
            if "__header__" in raw:
                missing = [c for c in COLUMNS[stem] if c not in raw["__header__"].split("\t")]
                if missing and path.suffix == ".csv":
                    out.problems.append(
                        Problem(str(path), line, f"header lacks column(s): {', '.join(missing)}")
                    )
                    return
                continue
            try:
                if "__error__" in raw:
                    raise RowError(raw["__error__"])
                row = {c: raw.get(c, "") for c in COLUMNS[stem]} | {
                    k: v for k, v in raw.items() if k not in COLUMNS[stem]
                }
                key = row[id_col].strip()
                if not key:
                    raise RowError(f"{id_col} is empty")
                if key in seen:
                    raise RowError(f"{id_col} {key!r} already appeared on line {seen[key]}")
                seen[key] = line
                row[id_col] = key
                out.records.append(make(row))
            except RowError as exc:
                out.problems.append(Problem(str(path), line, str(exc)))
    except FileError as exc:
        out.problems.append(Problem(str(path), exc.line, str(exc)))
    except csv.Error as exc:
        out.problems.append(Problem(str(path), None, f"is not valid CSV ({exc})"))


__all__ = ["COLUMNS", "STAGES", "CrmExport", "ParentLookup", "read_crm"]

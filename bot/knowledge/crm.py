"""Read a CRM export (CSV or JSON Lines, files found by name) into access-checked records.

Each row becomes one :class:`Record`. Access follows the contract: accounts and deals carry their own
(owner, team, visibility); contacts take their account's; notes take their deal's, or their account's
when they have no deal. A bad row is reported with its file and line and skipped; the rest load.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bot.knowledge.amounts import AmountError, parse_amount
from bot.knowledge.chunking import Section, pack_chunks
from bot.knowledge.crm_mapping import (
    FIELDS,
    OWNERS_FILE,
    STEMS,
    CrmMapping,
    MappedColumns,
    ReadOptions,
    ValueProblem,
    identify,
    looks_like,
)
from bot.knowledge.crm_stages import STAGES, StageTable, closer_stage, stage_table
from bot.knowledge.csv_text import DELIMITERS, DecodeError, Encoding, detect_file, find_delimiter, header_key
from bot.knowledge.dates import DateError, parse_date
from bot.knowledge.disk_keys import DiskKeys
from bot.knowledge.problems import Findings, Problem
from bot.knowledge.records import Access, Chunk, Parent, Record, SourceType, Visibility, chunk_id

COLUMNS = FIELDS  # Closer's own CSV columns, per file
SOURCE_TYPE: dict[str, SourceType] = {
    "accounts": "account", "deals": "deal", "contacts": "contact", "notes": "note",
}  # fmt: skip

# Looks up an account or deal already in the store for a child whose parent is not in this export.
ParentLookup = Callable[[SourceType, str], "Parent | None"]


class RowError(ValueError):
    """A row that cannot be loaded; the message is shown after "file:line:"."""


@dataclass
class CrmExport:
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    kinds: set[SourceType] = field(default_factory=set)  # the source types whose files were present
    notices: list[Problem] = field(default_factory=list)  # said to the user, not errors (a guessed encoding)


def _csv_rows(
    lines: Iterable[str], delimiter: str, footer: tuple[str, ...] = ()
) -> Iterator[tuple[int, list[str] | dict[str, str] | RowError]]:
    """(line, header) first, then (line, row) or (line, the row's error); blank rows, and rows whose
    first field starts with a ``footer`` text (``Grand Totals``), are skipped. ``lines``: a file
    opened with ``newline=""`` (read as it goes), or a :class:`io.StringIO`."""
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    line = 1
    for values in reader:
        # line_num counts physical lines read so far, so a quoted multi-line field keeps its start line.
        start, line = line, reader.line_num + 1
        if header is None:
            header = [h.strip() for h in values]
            yield start, header
            continue
        if not any(v.strip() for v in values) or (footer and values[0].strip().startswith(footer)):
            continue
        if len(values) != len(header):
            yield start, RowError(f"has {len(values)} fields, the header has {len(header)}")
            continue
        yield start, dict(zip(header, values, strict=True))


def _json_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, RowError(f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield n, RowError("a line must hold a JSON object")
            continue
        yield n, {str(k): "" if v is None else str(v) for k, v in obj.items()}


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


def _check_date(value: str, column: str, options: ReadOptions, *, with_time: bool = False) -> str:
    try:
        return parse_date(value, options.dates, with_time=with_time)
    except DateError as exc:
        raise RowError(f"{column} {value.strip()!r} {exc}") from None


def _amount(row: dict[str, str], options: ReadOptions) -> tuple[str, str]:
    """(plain amount, currency): a code written with the amount fills an empty currency column."""
    written, currency = row["amount"], row["currency"].strip()
    try:
        amount, code = parse_amount(written, options.decimal)
    except AmountError as exc:
        raise RowError(f"amount {written.strip()!r} {exc}") from None
    if code and currency and code != currency.upper():
        raise RowError(f"amount {written.strip()!r} is in {code} but the currency column says {currency!r}")
    return amount, row["currency"] if currency else code


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

    def __init__(
        self, lookup: ParentLookup | None, options: ReadOptions, stages: StageTable,
        owners: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.lookup = lookup
        self.options = options
        self.stages = stages
        self.owners = owners  # None in Closer's own format, where owners are emails already
        self.mapped = owners is not None
        # Accounts and deals read so far, by "kind:id": on disk (memory stays flat), removed with the builder.
        self._exported = DiskKeys()

    def _keep(self, kind: SourceType, pid: str, parent: Parent) -> None:
        access = parent.access
        kept = [access.visibility, access.owner, list(access.team), parent.title, parent.account_id]
        self._exported.put(f"{kind}:{pid}", json.dumps(kept))

    def _parent(self, kind: SourceType, pid: str) -> Parent | None:
        kept = self._exported.value(f"{kind}:{pid}")
        if kept is not None:
            visibility, owner, team, title, account_id = json.loads(kept)
            return Parent(Access(visibility, owner, tuple(team)), title, account_id)
        return self.lookup(kind, pid) if self.lookup else None

    def account(self, row: dict[str, str]) -> Record:
        aid, name = row["account_id"], row["name"].strip() or row["account_id"]
        access = _access(row)
        self._keep("account", aid, Parent(access, name, aid))
        text = (
            f"Account: {name}\nIndustry: {row['industry']} · Region: {row['region']}"
            f"\nOwner: {access.owner or 'unassigned'}"
        )
        return Record(
            "account", aid, name, access, _one_chunk("account", aid, text), account_id=aid, fields=row
        )

    def deal(self, row: dict[str, str]) -> Record:
        did, aid = row["deal_id"], row["account_id"]
        if not aid.strip():
            raise RowError("account_id is empty: every deal belongs to an account")
        parent = self._parent("account", aid)
        if parent is None:
            raise RowError(f"account {aid!r} is not in this export or the store")
        stage = closer_stage(row["stage"], self.stages)
        if stage is None:
            hint = " — or map it under [stages] in a --map file" if self.mapped else ""
            raise RowError(f"stage {row['stage']!r} is not one of {', '.join(STAGES)}{hint}")
        amount, currency = _amount(row, self.options)
        fields = dict(row, stage=stage, amount=amount, currency=currency)
        fields["close_date"] = _check_date(row["close_date"], "close_date", self.options)
        fields["updated_at"] = _check_date(row["updated_at"], "updated_at", self.options, with_time=True)
        access, name = _access(row), row["name"].strip() or did
        self._keep("deal", did, Parent(access, name, aid))
        money = _money(fields["amount"], currency)
        text = (
            f"Deal: {name} — {parent.title}\nStage: {stage} · Amount: {money}"
            f" · Close date: {fields['close_date'] or 'not set'}\nOwner: {access.owner or 'unassigned'}"
            f"\nNext step: {row['next_step'].strip() or 'none recorded'}"
        )
        return Record(
            "deal", did, name, access, _one_chunk("deal", did, text),
            deal_id=did, account_id=aid, updated_at=fields["updated_at"], fields=fields,
        )  # fmt: skip

    def contact(self, row: dict[str, str]) -> Record:
        cid, aid = row["contact_id"], row["account_id"]
        if not aid.strip():
            raise RowError("account_id is empty: every contact belongs to an account")
        parent = self._parent("account", aid)
        if parent is None:
            raise RowError(f"account {aid!r} is not in this export or the store")
        name = row["name"].strip() or cid
        text = (
            f"Contact: {name}, {row['title'].strip() or 'no title'} at {parent.title}"
            f"\nEmail: {row['email'].strip() or 'none'} · Phone: {row['phone'].strip() or 'none'}"
        )
        title = f"{name} ({parent.title})"
        return Record(
            "contact", cid, title, parent.access, _one_chunk("contact", cid, text), account_id=aid, fields=row
        )

    def note(self, row: dict[str, str], *, max_words: int) -> Record:
        nid, aid, did = row["note_id"], row["account_id"].strip(), row["deal_id"].strip()
        related = row.pop("related_id", "").strip() if self.mapped else ""  # a deal's or an account's id
        if related and not did:
            if self._parent("deal", related) is not None:
                did = row["deal_id"] = related
            elif not aid:
                aid = row["account_id"] = related
        created = _check_date(row["created_at"], "created_at", self.options, with_time=True)
        if did:
            parent = self._parent("deal", did)
            if parent is None:
                raise RowError(f"deal {did!r} is not in this export or the store")
            if aid and parent.account_id and aid != parent.account_id:
                raise RowError(f"deal {did!r} belongs to account {parent.account_id!r}, not {aid!r}")
            aid = aid or parent.account_id
        else:
            parent = self._parent("account", aid)
            if parent is None:
                raise RowError(f"account {aid!r} is not in this export or the store")
        access, about = parent.access, parent.title
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


@dataclass(frozen=True)
class _Source:
    """One export file to read as one kind of record; ``columns`` is None in Closer's own format,
    where the encoding and delimiter are found when the file's turn comes."""

    path: Path
    stem: str
    encoding: Encoding | None = None
    delimiter: str | None = None
    columns: MappedColumns | None = None


HEAD = 65536  # characters read to find a file's delimiter and header


def _check_text(path: Path, options: ReadOptions, findings: Findings) -> Encoding | None:
    """How to read the file (a detected encoding is said as a notice); None after a problem."""
    try:
        encoding = detect_file(path, options.encoding)
    except DecodeError as exc:
        findings.problem(Problem(str(path), exc.line, str(exc)))
        return None
    if encoding.empty:
        findings.problem(Problem(str(path), None, "is empty: export it again, or remove it"))
        return None
    if encoding.notice:
        findings.notice(Problem(str(path), None, encoding.notice))
    return encoding


def _head(path: Path, encoding: Encoding) -> str:
    with path.open(encoding=encoding.name, newline="") as f:
        return f.read(HEAD)


_WORKBOOK = "is an Excel workbook, which Closer does not read: export it as CSV (Excel: Save As > CSV UTF-8)"


def _closer_sources(root: Path, findings: Findings) -> list[_Source]:
    found = []
    for stem in STEMS:
        path = next((p for p in (root / f"{stem}.csv", root / f"{stem}.jsonl") if p.is_file()), None)
        if path is not None:
            found.append(_Source(path, stem))
        for workbook in (root / f"{stem}.xlsx", root / f"{stem}.xls"):
            if path is None and workbook.is_file():
                findings.problem(Problem(str(workbook), None, _WORKBOOK))
    return found


def _owners_file(root: Path, options: ReadOptions, findings: Findings) -> dict[str, str]:
    path = root / OWNERS_FILE
    encoding = _check_text(path, options, findings) if path.is_file() else None
    owners: dict[str, str] = {}
    if encoding is None:
        return owners
    delimiter = find_delimiter(_head(path, encoding), ("owner", "email"), options.delimiter)
    with path.open(encoding=encoding.name, newline="") as f:
        for line, raw in _csv_rows(f, delimiter):
            if isinstance(raw, list):
                if "owner" not in raw or "email" not in raw:
                    findings.problem(Problem(str(path), line, "header must be: owner,email"))
                    return owners
            elif isinstance(raw, RowError) or "@" not in raw["email"]:
                findings.problem(Problem(str(path), line, str(raw) if isinstance(raw, RowError) else
                                         f"email {raw['email']!r} is not an email"))  # fmt: skip
            else:
                owners[header_key(raw["owner"])] = raw["email"].strip().lower()
    return owners


def _mapped_sources(
    root: Path, mapping: CrmMapping, options: ReadOptions, findings: Findings
) -> list[_Source]:
    """Each CSV under ``root`` with the kind of record it holds: by its name, else by its header."""
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".xlsx", ".xls")):
        findings.problem(Problem(str(path), None, _WORKBOOK))
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".csv"):
        if path.name.lower() == OWNERS_FILE:
            continue
        encoding = _check_text(path, options, findings)
        if encoding is None:
            continue
        head = _head(path, encoding)
        delimiter = find_delimiter(head, mapping.known_columns(), options.delimiter)
        header = next(
            (r for _, r in _csv_rows(io.StringIO(head, newline=""), delimiter) if isinstance(r, list)), []
        )
        fits = {stem: mapping.columns_for(stem, header) for stem in STEMS}
        columns, problem = identify(mapping.stem_by_name(path.name), fits)
        if problem:
            findings.problem(Problem(str(path), 1, _with_delimiter_hint(problem, header, delimiter)))
        elif columns is None:
            findings.notice(
                Problem(str(path), None, f"ignored: not a {mapping.name} export of {', '.join(STEMS)}")
            )
        else:
            found.append(_Source(path, columns.stem, encoding, delimiter, columns))
    return found


def _with_delimiter_hint(message: str, header: list[str], delimiter: str) -> str:
    if len(header) == 1 and any(d in header[0] for d in DELIMITERS if d != delimiter):
        return f"{message} (read with delimiter {delimiter!r}: pass --delimiter if the file uses another)"
    return message


class CrmStream:
    """An export read record by record, in constant memory whatever the size of its files.

    ``kinds`` (the source types whose files are present) is known before any row is read;
    :meth:`records` reads the files parents first, each row once, as the caller consumes it; problems
    and notices go to ``findings`` as they are found. :meth:`fraction` is the share of the export's
    bytes read so far, for an estimate of the time left.
    """

    def __init__(self, sources: list[_Source], builder: _Builder, findings: Findings, max_words: int) -> None:
        self._sources = sources
        self._builder = builder
        self._findings = findings
        self._max_words = max_words
        self.kinds = {SOURCE_TYPE[s.stem] for s in sources}
        self._total = sum(s.path.stat().st_size for s in sources)
        self._finished = 0  # bytes of the files read to the end
        self._reading: BinaryIO | None = None

    def fraction(self) -> float:
        current = self._reading.tell() if self._reading is not None and not self._reading.closed else 0
        return min(1.0, (self._finished + current) / self._total) if self._total else 1.0

    def records(self) -> Iterator[Record]:
        for stem in STEMS:
            for source in (s for s in self._sources if s.stem == stem):
                yield from self._read_file(source)
                self._finished += source.path.stat().st_size

    def _rows(self, source: _Source) -> Iterator[tuple[int, list[str] | dict[str, str] | RowError]]:
        options = self._builder.options
        encoding = source.encoding or _check_text(source.path, options, self._findings)
        if encoding is None:
            return
        delimiter = source.delimiter
        if delimiter is None and source.path.suffix != ".jsonl":
            delimiter = find_delimiter(_head(source.path, encoding), COLUMNS[source.stem], options.delimiter)
        with source.path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding.name, newline="") as text:
            self._reading = raw
            try:
                if source.path.suffix == ".jsonl":
                    yield from _json_rows(text)
                else:
                    footer = source.columns.mapping.footer if source.columns is not None else ()
                    yield from _csv_rows(text, delimiter or ",", footer)
            finally:
                self._reading = None

    def _read_file(self, source: _Source) -> Iterator[Record]:
        builder, findings = self._builder, self._findings
        path, stem = source.path, source.stem
        make = _makers(builder, max_words=self._max_words)[stem]
        delimiter = source.delimiter or builder.options.delimiter or ","
        line = 0
        seen = DiskKeys()  # each id read and its line, on disk: flat memory for any number of rows
        try:
            for line, raw in self._rows(source):
                if isinstance(raw, list):
                    missing = [c for c in COLUMNS[stem] if c not in raw]
                    if missing and source.columns is None:
                        message = f"header lacks column(s): {', '.join(missing)}"
                        crm = looks_like(raw)
                        if crm:
                            message += f" — it looks like a {crm} export: add --format {crm}"
                        findings.problem(
                            Problem(str(path), line, _with_delimiter_hint(message, raw, delimiter))
                        )
                        return
                    continue
                try:
                    if isinstance(raw, RowError):
                        raise raw
                    if source.columns is not None:
                        row = source.columns.row(raw, builder.owners or {})
                    else:
                        row = {c: raw.get(c, "") for c in COLUMNS[stem]} | {
                            k: v for k, v in raw.items() if k not in COLUMNS[stem]
                        }
                    record = _keyed(stem, row, make, seen, line)
                except (RowError, ValueProblem) as exc:
                    message = source.columns.in_export_terms(str(exc)) if source.columns else str(exc)
                    findings.problem(Problem(str(path), line, message))
                    continue
                yield record
        except csv.Error as exc:
            where = f"after line {line}" if line else "at its start"
            findings.problem(
                Problem(str(path), None, f"is not valid CSV {where} ({exc}); the rows after it were not read")
            )
        finally:
            seen.close()


def stream_crm(
    root: Path,
    findings: Findings,
    *,
    lookup: ParentLookup | None = None,
    max_words: int = 160,
    options: ReadOptions | None = None,
    mapping: CrmMapping | None = None,
) -> CrmStream:
    """Find ``accounts``, ``deals``, ``contacts`` and ``notes`` under ``root``: Closer's own ``.csv`` or
    ``.jsonl`` files, or with ``mapping`` a CRM's native CSV exports; their rows are read when the
    returned stream's records are.

    Parents are read first so children can inherit access; ``lookup`` resolves parents that were
    loaded by an earlier ingest and are not in this export. ``options`` (command-line flags) win over
    the mapping's ``[read]``.
    """
    options = options or ReadOptions()
    if mapping is None:
        builder = _Builder(lookup, options, stage_table({}))
        sources = _closer_sources(root, findings)
    else:
        options = options.over(mapping.read)
        owners = mapping.owners | _owners_file(root, options, findings)
        builder = _Builder(lookup, options, mapping.stages, owners=owners)
        sources = _mapped_sources(root, mapping, options, findings)
    return CrmStream(sources, builder, findings, max_words)


def read_crm(
    root: Path,
    *,
    lookup: ParentLookup | None = None,
    max_words: int = 160,
    options: ReadOptions | None = None,
    mapping: CrmMapping | None = None,
) -> CrmExport:
    """The whole export at once (:func:`stream_crm`, read to the end): for small exports and tests."""
    findings = Findings()
    stream = stream_crm(root, findings, lookup=lookup, max_words=max_words, options=options, mapping=mapping)
    records = list(stream.records())
    return CrmExport(records, findings.problems, stream.kinds, findings.notices)


def _makers(builder: _Builder, *, max_words: int) -> dict[str, Callable[[dict[str, str]], Record]]:
    return {
        "accounts": builder.account,
        "deals": builder.deal,
        "contacts": builder.contact,
        "notes": lambda row: builder.note(row, max_words=max_words),
    }


def _keyed(stem: str, row: dict[str, str], make: Callable[[dict[str, str]], Record], seen: DiskKeys,
           line: int) -> Record:  # fmt: skip
    """A row in Closer's columns -> its record, refusing an empty or repeated id (:class:`RowError`)."""
    id_col = COLUMNS[stem][0]
    key = row[id_col].strip()
    if not key:
        raise RowError(f"{id_col} is empty")
    if not seen.add(key, line):
        raise RowError(f"{id_col} {key!r} already appeared on line {seen.line(key)}")
    row[id_col] = key
    return make(row)


def read_rows(
    tables: dict[str, list[tuple[str, dict[str, str]]]],
    *,
    lookup: ParentLookup | None = None,
    max_words: int = 160,
) -> CrmExport:
    """Rows already in Closer's columns and values (e.g. read from a CRM's API by ``closer sync``) ->
    records, by the same builder as :func:`read_crm`. ``tables`` maps ``accounts``/``deals``/
    ``contacts``/``notes`` to ``(origin, row)`` pairs; a problem names its row's origin."""
    out = CrmExport()
    builder = _Builder(lookup, ReadOptions(), stage_table({}))
    makers = _makers(builder, max_words=max_words)
    for stem in STEMS:
        if stem not in tables:
            continue
        out.kinds.add(SOURCE_TYPE[stem])
        with DiskKeys() as seen:
            for n, (origin, raw) in enumerate(tables[stem], start=1):
                row = {c: raw.get(c, "") for c in COLUMNS[stem]} | {
                    k: v for k, v in raw.items() if k not in COLUMNS[stem]
                }
                try:
                    out.records.append(_keyed(stem, row, makers[stem], seen, n))
                except (RowError, ValueProblem) as exc:
                    out.problems.append(Problem(origin, None, str(exc)))
    return out


__all__ = [
    "COLUMNS",
    "STAGES",
    "CrmExport",
    "CrmStream",
    "Parent",
    "ParentLookup",
    "read_crm",
    "read_rows",
    "stream_crm",
]

"""How to read a CRM export that is not in Closer's own format: a small TOML mapping.

The built-in ``hubspot`` and ``salesforce`` formats are such mappings (``bot/knowledge/crm_maps/``);
``closer ingest crm DIR --map FILE`` reads any other CRM's CSV exports the same way, and a map file
with ``base = "hubspot"`` changes only what it names (a custom pipeline's stages, say).
docs/crm-formats.md describes the file. A mapping says, for each kind of record:

- which files hold it (name patterns; a CSV whose name matches nothing is recognised by its header),
- which export column(s) give each Closer field (first present wins; a list joins columns),
- how the CRM's stage labels map onto Closer's stages,
- and how owner names (``Deal owner`` is a name in HubSpot exports) map to emails: ``[owners]`` in the
  map, or an ``owners.csv`` (``owner,email``) next to the export.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

from bot.errors import InputError
from bot.knowledge.amounts import DecimalMark
from bot.knowledge.crm_stages import BUILTIN_MAPS, stage_table
from bot.knowledge.csv_text import header_key
from bot.knowledge.dates import DATE_ORDERS, DateOrder
from bot.knowledge.html_text import html_to_text

STEMS = ("accounts", "deals", "contacts", "notes")
FIELDS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name", "industry", "region", "owner_email", "team", "visibility"),
    "deals": ("deal_id", "account_id", "name", "owner_email", "team", "stage", "amount", "currency",
              "close_date", "next_step", "updated_at", "visibility"),
    "contacts": ("contact_id", "account_id", "name", "title", "email", "phone"),
    "notes": ("note_id", "account_id", "deal_id", "author_email", "created_at", "kind", "subject", "body"),
}  # fmt: skip
# Beyond Closer's columns: a note's "related to" id, which may name a deal or an account.
MAPPED_ONLY: dict[str, tuple[str, ...]] = {"notes": ("related_id",)}
REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name"),
    "deals": ("deal_id", "account_id", "name", "stage"),
    "contacts": ("contact_id", "account_id", "name"),
    "notes": ("note_id", "body"),
}
BUILTIN_FORMATS = ("hubspot", "salesforce")
OWNERS_FILE = "owners.csv"
_LINKS = {"account_id", "deal_id", "related_id"}  # "123;456" (several associations): the first one
_PEOPLE = {"owner_email", "author_email"}
_EMAIL = re.compile(r"[^\s<>()\[\],;\"']+@[^\s<>()\[\],;\"']+")
Candidate = tuple[str, ...]  # one export column, or several joined by a space
_HTML = re.compile(r"</?(?:p|div|br|span|b|i|u|strong|em|ul|ol|li|a|h[1-6]|table|tr|td)\b[^>]*>", re.I)


class ValueProblem(ValueError):
    """A value a mapping cannot turn into a Closer field; shown after "file:line:"."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read numbers, dates and bytes; unset = the safe default (refuse what is ambiguous)."""

    decimal: DecimalMark | None = None
    dates: DateOrder | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def over(self, base: ReadOptions) -> ReadOptions:
        """These options where set, ``base``'s elsewhere (command-line flags over a mapping file)."""
        return ReadOptions(
            self.decimal or base.decimal, self.dates or base.dates,
            self.encoding or base.encoding, self.delimiter or base.delimiter,
        )  # fmt: skip


@dataclass(frozen=True)
class CrmMapping:
    name: str
    read: ReadOptions
    files: dict[str, tuple[str, ...]]
    columns: dict[str, dict[str, tuple[Candidate, ...]]]
    stages: dict[str, str]  # stage_key -> Closer stage
    owners: dict[str, str] = field(default_factory=dict)  # header_key(owner name or id) -> email
    footer: tuple[str, ...] = ()  # rows starting with these (a report's totals and footer) are not records

    def known_columns(self) -> set[str]:
        return {header_key(c) for by_field in self.columns.values() for cands in by_field.values()
                for cand in cands for c in cand}  # fmt: skip

    def stem_by_name(self, filename: str) -> str | None:
        name = filename.casefold()
        for stem in STEMS:
            if any(fnmatch.fnmatchcase(name, p.casefold()) for p in self.files.get(stem, ())):
                return stem
        return None

    def columns_for(self, stem: str, header: list[str]) -> MappedColumns:
        present = {header_key(h): h for h in header}
        picks: dict[str, tuple[str, ...]] = {}
        for fld, cands in self.columns.get(stem, {}).items():
            for cand in cands:
                if all(header_key(c) in present for c in cand):
                    picks[fld] = tuple(present[header_key(c)] for c in cand)
                    break
        missing = [f for f in REQUIRED[stem] if f not in picks]
        return MappedColumns(self, stem, picks, missing)


@dataclass(frozen=True)
class MappedColumns:
    """One export file's header resolved against one kind of record."""

    mapping: CrmMapping
    stem: str
    picks: dict[str, tuple[str, ...]]  # Closer field -> the export columns that give it
    missing: list[str]  # required Closer fields no column gives

    @property
    def score(self) -> int:
        return -1 if self.missing else len(self.picks)

    def describe_missing(self) -> str:
        wanted = [" or ".join(" + ".join(c) for c in self.mapping.columns[self.stem].get(f, ())) or f
                  for f in self.missing]  # fmt: skip
        return f"header lacks a column for {', '.join(self.missing)} (expected {'; '.join(wanted)})"

    def in_export_terms(self, message: str) -> str:
        """``updated_at '10/1/2026' is …`` -> ``Last Modified Date '10/1/2026' is …``: the user's column."""
        fld, _, rest = message.partition(" ")
        cols = self.picks.get(fld)
        return f"{' + '.join(cols)} {rest}" if cols and rest else message

    def row(self, raw: Mapping[str, str], owners: Mapping[str, str]) -> dict[str, str]:
        """The Closer row for one export row: only Closer's fields, extra export columns dropped."""
        out = {f: "" for f in FIELDS[self.stem]}
        for fld, cols in self.picks.items():
            value = " ".join(v for v in (raw.get(c, "").strip() for c in cols) if v)
            if fld in _LINKS:
                value = value.split(";")[0].strip()
            elif fld in _PEOPLE:
                value = _person(value, cols[0], owners)
            elif fld == "team":
                value = ";".join(_person(v, cols[0], owners) for v in re.split(r"[;,]", value) if v.strip())
            elif fld == "body" and _HTML.search(value):
                value = html_to_text(value)
            out[fld] = value
        return out


def _person(value: str, column: str, owners: Mapping[str, str]) -> str:
    value = value.strip()
    if not value:
        return ""
    email = _EMAIL.search(value)
    if email:
        return email.group(0).lower()
    if header_key(value) in owners:
        return owners[header_key(value)]
    raise ValueProblem(
        f"{column} {value!r} is not an email: add it to {OWNERS_FILE} (columns owner,email) next to the"
        " export, or under [owners] in a --map file"
    )


# ---- loading ---------------------------------------------------------------------------------------


def _raw_builtin(name: str) -> dict[str, Any]:
    path = BUILTIN_MAPS / f"{name}.toml"
    if name not in BUILTIN_FORMATS or not path.is_file():
        raise InputError(f"no built-in CRM format {name!r}: use one of {', '.join(BUILTIN_FORMATS)}")
    with path.open("rb") as f:
        return tomllib.load(f)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def _candidates(where: str, value: object) -> tuple[Candidate, ...]:
    items = value if isinstance(value, list) else [value]
    out: list[Candidate] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            out.append((item,))
        elif isinstance(item, list) and item and all(isinstance(c, str) and c.strip() for c in item):
            out.append(tuple(cast(list[str], item)))
        else:
            raise InputError(f"{where}: give column names, or lists of names to join, not {item!r}")
    return tuple(out)


def _read_options(where: str, raw: object) -> ReadOptions:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: [read] must be a table")
    unknown = set(raw) - {"decimal", "dates", "encoding", "delimiter"}
    if unknown:
        raise InputError(f"{where}: [read] has unknown key(s) {', '.join(sorted(unknown))}")
    decimal, dates = raw.get("decimal"), raw.get("dates")
    if decimal not in (None, ".", ","):
        raise InputError(f'{where}: [read] decimal must be "." or ",", not {decimal!r}')
    if dates is not None and dates not in DATE_ORDERS:
        raise InputError(f"{where}: [read] dates must be one of {', '.join(DATE_ORDERS)}, not {dates!r}")
    encoding, delimiter = raw.get("encoding"), raw.get("delimiter")
    if delimiter is not None:
        delimiter = parse_delimiter(str(delimiter), where=f"{where}: [read] delimiter")
    return ReadOptions(
        cast(DecimalMark | None, decimal), cast(DateOrder | None, dates),
        str(encoding) if encoding else None, delimiter,
    )  # fmt: skip


def parse_delimiter(value: str, *, where: str = "--delimiter") -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(value.lower(), value)
    if len(value) != 1 or value in '"\r\n':
        raise InputError(f"{where} must be one character (or tab), not {value!r}")
    return value


def _parse(raw: dict[str, Any], where: str) -> CrmMapping:
    allowed = {"name", "base", "read", "files", "stages", "owners", "footer", *STEMS}
    unknown = set(raw) - allowed
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(allowed))})"
        )
    files: dict[str, tuple[str, ...]] = {}
    for stem, patterns in dict(raw.get("files", {})).items():
        if stem not in STEMS:
            raise InputError(f"{where}: [files] {stem!r} is not one of {', '.join(STEMS)}")
        files[stem] = tuple(str(p) for p in (patterns if isinstance(patterns, list) else [patterns]))
    columns: dict[str, dict[str, tuple[Candidate, ...]]] = {}
    for stem in STEMS:
        table = raw.get(stem, {})
        if not isinstance(table, dict):
            raise InputError(f"{where}: [{stem}] must be a table")
        known = FIELDS[stem] + MAPPED_ONLY.get(stem, ())
        for fld in table:
            if fld not in known:
                raise InputError(
                    f"{where}: [{stem}] {fld!r} is not a Closer field (one of {', '.join(known)})"
                )
        columns[stem] = {f: _candidates(f"{where}: [{stem}] {f}", v) for f, v in table.items()}
    try:
        stages = stage_table({str(k): str(v) for k, v in dict(raw.get("stages", {})).items()})
    except ValueError as exc:
        raise InputError(f"{where}: [stages] {exc}") from None
    owners: dict[str, str] = {}
    for name, email in dict(raw.get("owners", {})).items():
        if not isinstance(email, str) or "@" not in email:
            raise InputError(f"{where}: [owners] {name!r} must map to an email, not {email!r}")
        owners[header_key(str(name))] = email.strip().lower()
    return CrmMapping(
        name=str(raw.get("name") or where), read=_read_options(where, raw.get("read", {})),
        files=files, columns=columns, stages=stages, owners=owners,
        footer=tuple(str(f) for f in raw.get("footer", ())),
    )  # fmt: skip


@cache
def builtin_mapping(name: str) -> CrmMapping:
    return _parse(_raw_builtin(name), f"built-in {name} format")


def looks_like(header: list[str]) -> str | None:
    """The built-in format whose export this header is, if any: a hint for a missing ``--format``."""
    for name in BUILTIN_FORMATS:
        mapping = builtin_mapping(name)
        if any(mapping.columns_for(stem, header).score >= 0 for stem in STEMS):
            return name
    return None


def load_mapping(path: Path, *, base: str | None = None) -> CrmMapping:
    """A ``--map`` file; ``base`` (or ``base = "…"`` in the file) starts from a built-in format."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the map file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML map file ({exc})") from None
    base = str(raw.get("base") or base or "") or None
    if base:
        raw = _merge(_raw_builtin(base), raw)
    return _parse(raw, str(path))


def choose_mapping(fmt: str | None, map_file: Path | None) -> CrmMapping | None:
    """``--format`` and ``--map`` together: the map changes the format. Neither: Closer's own format."""
    if map_file is not None:
        return load_mapping(map_file, base=fmt if fmt and fmt != "closer" else None)
    if fmt and fmt != "closer":
        return builtin_mapping(fmt)
    return None


def identify(
    stem_by_name: str | None, scores: dict[str, MappedColumns]
) -> tuple[MappedColumns | None, str | None]:
    """Which kind a file holds: its name's if its header fits, else the best-fitting kind.

    Returns (columns, problem); both None when the file looks like none of the kinds (ignored).
    """
    fits = [c for c in scores.values() if c.score >= 0]
    if stem_by_name is not None and scores[stem_by_name].score >= 0:
        return scores[stem_by_name], None
    if fits:
        best = max(c.score for c in fits)
        top = [c for c in fits if c.score == best]
        if len(top) > 1:
            return None, f"could be {' or '.join(c.stem for c in top)}: rename it (e.g. {top[0].stem}.csv)"
        return top[0], None
    if stem_by_name is not None:
        return None, scores[stem_by_name].describe_missing()
    return None, None


__all__ = [
    "BUILTIN_FORMATS",
    "FIELDS",
    "OWNERS_FILE",
    "STEMS",
    "CrmMapping",
    "MappedColumns",
    "ReadOptions",
    "ValueProblem",
    "builtin_mapping",
    "choose_mapping",
    "header_key",
    "html_to_text",
    "identify",
    "load_mapping",
    "looks_like",
    "parse_delimiter",
]

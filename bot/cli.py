"""The command-line door: parse arguments, call the core, print. ``closer --help`` lists commands."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings, load_settings
from bot.crm_sync import command as crm_sync_command
from bot.errors import CloserError, InputError, UsageError, error_json
from bot.json_output import to_json
from bot.knowledge.crm_flags import add_crm_read_flags, crm_read_flags
from bot.observability import readable_warnings

if TYPE_CHECKING:
    from bot.assistant import Assistant
    from bot.knowledge.base import KnowledgeBase

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 2, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line and status 2 (JSON too under --json), like any bad input.
        raise UsageError(f"{message} (see `closer --help`)")


def _text(value: str) -> str:
    """A question, message, query or deal: blank is a usage error, not an empty request."""
    if not value.strip():
        raise argparse.ArgumentTypeError("is empty; say what you want, in quotes")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("closer")
    except PackageNotFoundError:  # run from a source folder that was never installed
        return "unknown"


def _as_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="as_email", required=True, metavar="EMAIL",
        help="the person to act as: only what they may see is used (`closer people` lists who is known)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-unknown", action="store_true",
        help="run as an EMAIL that no record names (sees docs and public records only)",
    )  # fmt: skip


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help='print JSON on stdout; errors as {"error": {"type", "message"}}'
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="closer", description="Closer — your CRM and product docs, searchable in Slack.")
    p.add_argument("--version", action="version", version=f"closer {_version()}", help="print the version")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ingest = sub.add_parser("ingest", help="load CRM exports or product docs into the knowledge base")
    what = ingest.add_subparsers(dest="what", required=True, parser_class=_Parser)
    for name, helptext in (
        ("crm", "a CRM export folder (CSV or JSONL)"),
        ("docs", "a folder of product docs"),
    ):
        one = what.add_parser(name, help=helptext)
        one.add_argument("folder", type=Path, help=f"the folder holding {helptext.split(' ', 1)[1]}")
        one.add_argument("--prune", action="store_true", help="remove records missing from this full export")
        one.add_argument(
            "--allow-empty", action="store_true",
            help="with --prune, let an empty file or folder remove every stored record of its kind",
        )  # fmt: skip
        if name == "crm":
            add_crm_read_flags(one)
    what.add_parser("sample", help="add the bundled sample company (never removes your own records)")

    search = sub.add_parser("search", help="retrieval only, as a given user sees it")
    search.add_argument("query", type=_text, help="what to look for")
    _as_option(search)
    search.add_argument("--k", type=int, default=10, help="how many results, 1-100 (default 10)")
    _json_option(search)

    ask = sub.add_parser("ask", help="a grounded answer with citations")
    ask.add_argument("question", type=_text, help="the question, in quotes")
    reply = sub.add_parser("reply", help="a draft reply to a customer's message")
    reply.add_argument("message", type=_text, help="the customer's message, in quotes")
    followup = sub.add_parser("followup", help="a follow-up email draft for a deal")
    followup.add_argument("deal", type=_text, metavar="DEAL_ID", help="deal id, or a unique part of its name")
    for one in (ask, reply, followup):
        _as_option(one)
        one.add_argument(
            "--private", action="store_true", help="send this request to the private endpoint only"
        )
        _json_option(one)

    privacy = sub.add_parser("privacy", help="show or set your private mode")
    privacy.add_argument(
        "mode", choices=["on", "off", "status"], help="turn private mode on or off, or show it"
    )
    _as_option(privacy)

    sub.add_parser("people", help="list the people the loaded records name (owners, teams, admins)")

    sub.add_parser("serve", help="run the Slack app (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)")

    ev = sub.add_parser("eval", help="measure quality")
    ev_what = ev.add_subparsers(dest="what", required=True, parser_class=_Parser)
    retrieval = ev_what.add_parser("retrieval", help="nDCG@10, MRR@10, Recall@10/100 on a BEIR-layout folder")
    retrieval.add_argument(
        "dataset", type=Path, help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv"
    )
    retrieval.add_argument("--split", default="test", help="which qrels file to score (default: test)")
    _json_option(retrieval)

    digest = sub.add_parser("digest", help="build (and with --send, post) deal digests")
    digest.add_argument("--user", metavar="EMAIL", help="one rep (default: everyone on an open deal)")
    digest.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the digest's day (default: today)")
    digest.add_argument("--send", action="store_true", help="DM each digest in Slack, once per rep and day")
    _json_option(digest)

    crm_sync_command.add_parser(sub)
    sub.add_parser("doctor", help="check settings, state, store, model, LLM endpoints and Slack")
    migrate = sub.add_parser("migrate-store", help="copy an embedded store into the configured one")
    migrate.add_argument(
        "--from-path", dest="from_path", type=Path, required=True, metavar="DIR",
        help="the embedded store's folder (an old CHROMA_PATH)",
    )  # fmt: skip
    return p


def _progress() -> bool:
    return sys.stderr.isatty()


def _say(line: str) -> None:
    """A problem or notice of a running ingest, on stderr at once (above the progress bar)."""
    from tqdm import tqdm

    tqdm.write(f"closer: {line}", file=sys.stderr)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.base import KnowledgeBase

    kb = KnowledgeBase.open(settings)
    if args.what == "sample":
        crm, docs = kb.ingest_sample(progress=_progress(), echo=_say)
        reports = [("sample CRM", crm), ("sample docs", docs)]
    elif args.what == "crm":
        mapping, options = crm_read_flags(args)
        report = kb.ingest_crm(
            args.folder, prune=args.prune, allow_empty=args.allow_empty, progress=_progress(),
            options=options, mapping=mapping, echo=_say,
        )  # fmt: skip
        reports = [("CRM", report)]
    else:
        report = kb.ingest_docs(
            args.folder, prune=args.prune, allow_empty=args.allow_empty, progress=_progress(), echo=_say
        )
        reports = [("docs", report)]
    for label, report in reports:
        print(f"{label}: {report.summary()}")
    return EXIT_PROBLEMS if any(r.problems for _, r in reports) else EXIT_OK


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.base import KnowledgeBase

    if args.k < 1 or args.k > 100:
        raise CloserError("--k must be between 1 and 100")
    kb = KnowledgeBase.open(settings)
    _check_person(kb, args.as_email, allow_unknown=args.allow_unknown)
    hits = kb.search(args.query, viewer=kb.viewer(args.as_email), k=args.k)
    if args.json:
        print(to_json({"results": [h.as_json() for h in hits]}))
        return EXIT_OK
    if not hits:
        print("No results you can see for that. Try other words, or check the email after --as.")
    for n, hit in enumerate(hits, start=1):
        print(f"{n:>2}. [{hit.source_type}] {hit.title}  ({hit.source_id}, score {hit.score:.3f})")
        snippet = " ".join(hit.text.split())
        print(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")
    return EXIT_OK


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.eval.beir import load_beir
    from bot.eval.retrieval import build_index, score
    from bot.knowledge.base import make_embedder, tuning_of
    from bot.knowledge.embedder import CachedEmbedder

    dataset = load_beir(args.dataset, split=args.split)
    embedder = CachedEmbedder(make_embedder(settings), settings.cache_dir / "embeddings.sqlite")
    k1, b = settings.search_bm25_k1, settings.search_bm25_b
    # Always on stderr, terminal or not: embedding a corpus takes minutes (cached for reruns).
    index = build_index(dataset, embedder, progress=True, k1=k1, b=b)
    metrics = score(index, dataset, embedder, tuning_of(settings), progress=True)
    if args.json:
        print(to_json({"dataset": str(args.dataset), "split": args.split, "queries": len(dataset.queries),
                       "metrics": metrics}))  # fmt: skip
    else:
        print(f"{args.dataset} ({args.split}, {len(dataset.queries)} queries, {len(dataset.corpus)} docs)")
        for name, value in metrics.items():
            print(f"  {name:<11} {value:.4f}")
    return EXIT_OK


def _assistant(settings: Settings) -> Assistant:
    from bot.assistant import Assistant
    from bot.knowledge.base import KnowledgeBase
    from bot.llm.router import LLMRouter
    from bot.state.store import StateStore

    return Assistant(
        settings, KnowledgeBase.open(settings), LLMRouter(settings), StateStore.open(settings.state_url)
    )


def _check_person(kb: KnowledgeBase, email: str, *, allow_unknown: bool = False) -> None:
    """Refuse (one line, exit 2) to act as someone no loaded record names: a typo in ``--as`` would
    otherwise run silently as a docs-only user. Also says so when nothing is loaded at all."""
    if kb.is_empty():
        raise InputError(
            "nothing ingested yet: run `closer ingest sample` (the demo company) "
            "or `closer ingest crm FOLDER` / `closer ingest docs FOLDER` first"
        )
    known = kb.people()
    address = email.strip().lower()
    if address in known:
        return
    if allow_unknown:
        print(f"closer: {email} is on no record; using docs and public records only", file=sys.stderr)
        return
    close = difflib.get_close_matches(address, sorted(known), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise InputError(
        f"{email} is not named on any loaded record (owner, team or ADMIN_EMAILS).{hint} "
        "`closer people` lists who is known; --allow-unknown runs as them anyway "
        "(docs and public records only)"
    )


def _people(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.base import KnowledgeBase

    kb = KnowledgeBase.open(settings)
    if kb.is_empty():
        raise InputError("nothing ingested yet: no records, so no people")
    for email in sorted(kb.people()):
        print(f"{email}{'  (admin)' if email in settings.admins else ''}")
    return EXIT_OK


def _draft(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
    _check_person(assistant.kb, args.as_email, allow_unknown=args.allow_unknown)
    action = args.command
    if action == "ask":
        draft = assistant.ask(args.question, user=args.as_email, private=args.private)
    elif action == "reply":
        draft = assistant.reply(args.message, user=args.as_email, private=args.private)
    else:
        draft = assistant.followup(args.deal, user=args.as_email, private=args.private)
    if args.json:
        print(to_json(draft.as_json(action)))
        return EXIT_OK
    badge = "🔒 private" if draft.decision.private else "standard"
    print(f"[{badge} — {draft.decision.reason}]\n")
    if draft.subject:
        print(f"Subject: {draft.subject}\n")
    print(draft.text.strip())
    if draft.next_steps:
        print("\nProposed next steps:")
        for step in draft.next_steps:
            print(f"  • {step}")
    if draft.citations and not draft.degraded:
        print("\nSources:")
        for c in draft.citations:
            print(f"  [{c.number}] {c.title} ({c.source_type} {c.source_id})")
    if draft.unverified:
        print(
            "\n⚠ Not found in the cited sources — check before sending: "
            + ", ".join(c.text for c in draft.unverified)
        )
    return EXIT_OK


def _privacy(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
    _check_person(assistant.kb, args.as_email, allow_unknown=args.allow_unknown)
    decision = assistant.decide(args.as_email) if args.mode == "status" else assistant.set_privacy(
        args.as_email, args.mode == "on")  # fmt: skip
    label = "🔒 private" if decision.private else "standard"
    print(f"{args.as_email}: {label} ({decision.reason})")
    if decision.private and not settings.private_llm_base_url:
        print(
            "closer: warning: no private endpoint is set (PRIVATE_LLM_BASE_URL), so every request on the "
            "private route is refused until one is; nothing goes to the standard endpoint instead",
            file=sys.stderr,
        )
    return EXIT_OK


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-25") from None


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.digest.command import run_digest
    from bot.digest.service import DigestService

    deliver = None
    if args.send:  # before anything opens the state DB: no token is one line, exit 2, nothing claimed
        from bot.slack.digest import SlackDigestSender, make_client

        deliver = SlackDigestSender(make_client(settings))
    service = DigestService(_assistant(settings))
    if args.user:
        _check_person(service.assistant.kb, args.user)
    return run_digest(service, user=args.user, day=args.date, deliver=deliver, as_json=args.json)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import exit_status, render, run_checks
    from bot.observability import secrets_of

    secrets, checks = secrets_of(settings), []
    for check in run_checks(settings):
        print(render(check, secrets), flush=True)
        checks.append(check)
    return exit_status(checks)


def _migrate_store(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store_migration import migrate_store

    print(migrate_store(settings, args.from_path, progress=_progress()).summary())
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.slack.server import serve

    return serve(settings, _assistant)


def main(argv: Sequence[str] | None = None) -> int:
    readable_warnings()
    args = argparse.Namespace(json="--json" in (sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings()
        handlers = {"ingest": _ingest, "search": _search, "eval": _eval, "ask": _draft, "reply": _draft,
                    "followup": _draft, "privacy": _privacy, "digest": _digest, "doctor": _doctor,
                    "migrate-store": _migrate_store, "serve": _serve, "people": _people,
                    "sync": crm_sync_command.run}  # fmt: skip
        handler = handlers[args.command]
        return handler(args, settings)
    except CloserError as exc:
        if getattr(args, "json", False):
            print(to_json(error_json(exc), indent=None))
        print(f"closer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("closer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

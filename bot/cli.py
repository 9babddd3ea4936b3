"""The command-line door: parse arguments, call the core, print. ``closer --help`` lists commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings, load_settings
from bot.errors import CloserError
from bot.json_output import to_json
from bot.knowledge.crm_flags import add_crm_read_flags, crm_read_flags
from bot.knowledge.ingest import IngestReport

if TYPE_CHECKING:
    from bot.assistant import Assistant

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 2, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line and status 2, like every other bad input.
        self.exit(EXIT_USAGE, f"closer: {message} (see `closer --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="closer", description="Closer — your CRM and product docs, searchable in Slack.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ingest = sub.add_parser("ingest", help="load CRM exports or product docs into the knowledge base")
    what = ingest.add_subparsers(dest="what", required=True, parser_class=_Parser)
    for name, helptext in (
        ("crm", "a CRM export folder (CSV or JSONL)"),
        ("docs", "a folder of product docs"),
    ):
        one = what.add_parser(name, help=helptext)
        one.add_argument("folder", type=Path)
        one.add_argument("--prune", action="store_true", help="remove records missing from this full export")
        if name == "crm":
            add_crm_read_flags(one)
    what.add_parser("sample", help="load the bundled sample company")

    search = sub.add_parser("search", help="retrieval only, as a given user sees it")
    search.add_argument("query")
    search.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--json", action="store_true")

    ask = sub.add_parser("ask", help="a grounded answer with citations")
    ask.add_argument("question")
    reply = sub.add_parser("reply", help="a draft reply to a customer's message")
    reply.add_argument("message")
    followup = sub.add_parser("followup", help="a follow-up email draft for a deal")
    followup.add_argument("deal", metavar="DEAL_ID", help="deal id, or a unique part of its name")
    for one in (ask, reply, followup):
        one.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")
        one.add_argument(
            "--private", action="store_true", help="send this request to the private endpoint only"
        )
        one.add_argument("--json", action="store_true")

    privacy = sub.add_parser("privacy", help="show or set your private mode")
    privacy.add_argument("mode", choices=["on", "off", "status"])
    privacy.add_argument("--as", dest="as_email", required=True, metavar="EMAIL")

    sub.add_parser("serve", help="run the Slack app (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)")

    ev = sub.add_parser("eval", help="measure quality")
    ev_what = ev.add_subparsers(dest="what", required=True, parser_class=_Parser)
    retrieval = ev_what.add_parser("retrieval", help="nDCG@10, MRR@10, Recall@10/100 on a BEIR-layout folder")
    retrieval.add_argument("dataset", type=Path)
    retrieval.add_argument("--split", default="test")
    retrieval.add_argument("--json", action="store_true")

    digest = sub.add_parser("digest", help="build (and with --send, post) deal digests")
    digest.add_argument("--user", metavar="EMAIL", help="one rep (default: everyone on an open deal)")
    digest.add_argument("--date", type=_day, metavar="YYYY-MM-DD", help="the digest's day (default: today)")
    digest.add_argument("--send", action="store_true", help="DM each digest in Slack, once per rep and day")
    digest.add_argument("--json", action="store_true")

    sub.add_parser("doctor", help="check settings, state, store, model, LLM endpoints and Slack")
    migrate = sub.add_parser("migrate-store", help="copy an embedded store into the configured one")
    migrate.add_argument("--from-path", dest="from_path", type=Path, required=True, metavar="DIR")
    return p


def _progress() -> bool:
    return sys.stderr.isatty()


def _print_report(label: str, report: IngestReport) -> None:
    for notice in report.notices:
        print(f"closer: note: {notice}", file=sys.stderr)
    for problem in report.problems:
        print(f"closer: {problem}", file=sys.stderr)
    print(f"{label}: {report.summary()}")


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.base import KnowledgeBase

    kb = KnowledgeBase.open(settings)
    if args.what == "sample":
        crm, docs = kb.ingest_sample(progress=_progress())
        reports = [("sample CRM", crm), ("sample docs", docs)]
    elif args.what == "crm":
        mapping, options = crm_read_flags(args)
        report = kb.ingest_crm(
            args.folder, prune=args.prune, progress=_progress(), options=options, mapping=mapping
        )
        reports = [("CRM", report)]
    else:
        reports = [("docs", kb.ingest_docs(args.folder, prune=args.prune, progress=_progress()))]
    for label, report in reports:
        _print_report(label, report)
    return EXIT_PROBLEMS if any(r.problems for _, r in reports) else EXIT_OK


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.base import KnowledgeBase

    if args.k < 1 or args.k > 100:
        raise CloserError("--k must be between 1 and 100")
    kb = KnowledgeBase.open(settings)
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
    index = build_index(dataset, embedder, progress=_progress(), k1=k1, b=b)
    metrics = score(index, dataset, embedder, tuning_of(settings), progress=_progress())
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


def _draft(args: argparse.Namespace, settings: Settings) -> int:
    assistant = _assistant(settings)
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
    decision = assistant.decide(args.as_email) if args.mode == "status" else assistant.set_privacy(
        args.as_email, args.mode == "on")  # fmt: skip
    label = "🔒 private" if decision.private else "standard"
    print(f"{args.as_email}: {label} ({decision.reason})")
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
    if args.send:
        from bot.slack.digest import SlackDigestSender, make_client

        deliver = SlackDigestSender(make_client(settings))  # no token: one line, exit 2, nothing claimed
    service = DigestService(_assistant(settings))
    return run_digest(service, user=args.user, day=args.date, deliver=deliver, as_json=args.json)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import exit_status, render, run_checks, secrets_of

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
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        handlers = {"ingest": _ingest, "search": _search, "eval": _eval, "ask": _draft, "reply": _draft,
                    "followup": _draft, "privacy": _privacy, "digest": _digest, "doctor": _doctor,
                    "migrate-store": _migrate_store, "serve": _serve}  # fmt: skip
        handler = handlers[args.command]
        return handler(args, settings)
    except CloserError as exc:
        print(f"closer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("closer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

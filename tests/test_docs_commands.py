"""Every command the README and docs show runs as written: each ``closer …`` subcommand and flag
exists in the real parser, each ``make X`` target exists, each script or module a doc or the
Makefile runs is in the repository, and ``--help`` describes every option."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PLACEHOLDERS = {"…", "...", "DIR", "EMAIL", "FOLDER", "QUESTION", "DEAL_ID", "DATASET_DIR"}


def _shown(path: Path) -> Iterator[tuple[int, str]]:
    """(line, command text) of every fenced code line and every inline code span."""
    fenced = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            yield n, line.strip()
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield n, span.strip()


def _commands(text: str, program: str) -> Iterator[str]:
    """What follows ``program`` where it starts a command (line start, after ``--``, a bin/ path, ``&&``)."""
    for match in re.finditer(rf"(?:^|\s--\s|/bin/|&&\s*|\$\s)\s*{program}\s+(.*)$", text):
        rest = re.split(r"\s+#\s", match.group(1))[0]
        yield rest.split(" && ")[0]


def _tokens(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError:  # an unbalanced quote around an ellipsis in prose
        return rest.split()


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def check_closer(tokens: list[str]) -> str | None:
    """None when ``closer <tokens>`` names real subcommands and flags, else what is wrong."""
    parser = build_parser()
    positionals = [a for a in parser._actions if not a.option_strings]
    tokens = [t.strip("[]") for t in tokens]  # usage syntax: [--user EMAIL]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in PLACEHOLDERS:  # `closer ingest …`: the rest is left to the reader
            return None
        if token.startswith("-"):
            flag = token.split("=")[0]
            action = parser._option_string_actions.get(flag)
            if action is None:
                return f"{parser.prog} has no option {flag}"
            i += 1 + (1 if action.nargs != 0 and "=" not in token else 0)
            continue
        sub = _subparsers(parser)
        if sub is not None:
            if token not in sub.choices:
                return f"{parser.prog} has no subcommand {token!r}"
            parser = sub.choices[token]
            positionals = [a for a in parser._actions if not a.option_strings]
        elif positionals:
            action = positionals.pop(0)
            if action.choices and token not in PLACEHOLDERS:
                wrong = [part for part in token.split("|") if part not in action.choices]
                if wrong:
                    return f"{parser.prog}: {wrong} not among {list(action.choices)}"
        elif token not in PLACEHOLDERS:
            return f"{parser.prog} takes no argument {token!r}"
        i += 1
    return None


def _makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def test_every_closer_command_in_the_docs_exists_in_the_parser() -> None:
    wrong, seen = [], 0
    for path in DOCS:
        for line, text in _shown(path):
            for rest in _commands(text, "closer"):
                seen += 1
                problem = check_closer(_tokens(rest))
                if problem:
                    wrong.append(f"{path.relative_to(REPO)}:{line}: `closer {rest}`: {problem}")
    assert seen > 30  # the extraction finds the commands at all
    assert not wrong, "\n".join(wrong)


def test_the_checker_catches_a_wrong_subcommand_flag_or_choice() -> None:
    assert check_closer(["search", "x", "--as", "a@b.example", "--k", "5", "--json"]) is None
    assert check_closer(["privacy", "on|off|status", "--as", "EMAIL"]) is None
    assert check_closer(["ingest", "spreadsheets", "x"]) is not None
    assert check_closer(["search", "x", "--limit", "5"]) is not None
    assert check_closer(["privacy", "maybe", "--as", "x"]) is not None
    assert check_closer(["doctor", "now"]) is not None
    assert check_closer(["digest", "[--user", "EMAIL]", "[--send]"]) is None
    assert check_closer(["digest", "[--users", "EMAIL]"]) is not None


def test_every_make_target_the_docs_show_exists() -> None:
    targets, wrong = _makefile_targets(), []
    for path in DOCS:
        for line, text in _shown(path):
            for rest in _commands(text, "make"):
                target = rest.split()[0] if rest.split() else ""
                if re.fullmatch(r"[a-z][\w-]*", target) and target not in targets:
                    wrong.append(f"{path.relative_to(REPO)}:{line}: make {target}")
    assert "demo" in targets and "bench" in targets
    assert not wrong, "\n".join(wrong)


def _scripts_in(text: str) -> Iterator[str]:
    """Repository files a command runs: ``python path.py`` and ``python -m package.module``."""
    for match in re.finditer(r"python3?\s+(-m\s+)?([\w./]+)", text):
        module, target = match.group(1), match.group(2)
        yield target.replace(".", "/") + ".py" if module else target


def test_every_script_the_makefile_and_docs_run_exists() -> None:
    wrong = []
    recipes = [
        (n, line.strip())
        for n, line in enumerate((REPO / "Makefile").read_text(encoding="utf-8").splitlines(), start=1)
        if line.startswith("\t")
    ]
    shown = [(f"{p.relative_to(REPO)}:{n}", text) for p in DOCS for n, text in _shown(p)]
    for where, text in [(f"Makefile:{n}", t) for n, t in recipes] + shown:
        for target in _scripts_in(text):
            if target.startswith(("bench/", "bot/", "tests/")) and not (REPO / target).is_file():
                wrong.append(f"{where}: {target}")
    assert not wrong, "\n".join(wrong)


def test_every_makefile_target_runs_closer_commands_that_exist() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    wrong = [rest for rest in re.findall(r"\$\(BIN\)/closer\s+(.*)$", text, re.M)
             if check_closer(_tokens(rest.replace("$(DEMO_USER)", "x@y.example")))]  # fmt: skip
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)
    assert phony is not None
    missing = set(phony.group(1).split()) - _makefile_targets()
    assert not wrong and not missing, (wrong, missing)


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    sub = _subparsers(parser)
    if sub is not None:
        for child in sub.choices.values():
            yield from _all_parsers(child)


def test_help_describes_every_option_and_subcommand() -> None:
    undescribed = []
    for parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                undescribed += [f"{parser.prog} {name}" for name in action.choices if name not in helped]
            elif not action.help:
                undescribed.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert not undescribed, undescribed


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"closer {version('closer')}"


# Sizes, latencies and rates quoted outside docs/benchmarks.md must be ones measured there.
FIGURE = re.compile(
    r"(?<![\w.,])\d[\d,]*(?:\.\d+)?(?:–\d[\d,]*(?:\.\d+)?)?\s?(?:ms|MB|GB|chunks/s)\b|\d+× faster"
)
NOT_MEASURED = {"90 MB"}  # the embedding model package's download size on PyPI, not a benchmark


def figures_outside_benchmarks() -> Iterator[tuple[str, str]]:
    for path in DOCS:
        if path.name == "benchmarks.md":
            continue
        fenced = False
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:  # code blocks are example output, not claims
                for match in FIGURE.finditer(line):
                    yield f"{path.relative_to(REPO)}:{n}", match.group(0)


def test_every_figure_in_the_docs_comes_from_benchmarks_md() -> None:
    measured = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    quoted = list(figures_outside_benchmarks())
    assert len(quoted) > 5  # the sizing table is found at all
    wrong = [f"{where}: {fig}" for where, fig in quoted if fig not in measured and fig not in NOT_MEASURED]
    assert not wrong, "not in docs/benchmarks.md:\n" + "\n".join(wrong)


def test_the_documented_json_error_types_are_the_real_ones() -> None:
    import bot.cli
    import bot.digest.service
    import bot.eval.beir  # noqa: F401
    from bot import errors

    def every(cls: type[errors.CloserError]) -> Iterator[type[errors.CloserError]]:
        yield cls
        for sub in cls.__subclasses__():
            yield from every(sub)

    real = {errors.error_json(cls("x"))["error"]["type"] for cls in every(errors.CloserError)}
    assert "dataset" not in real and "input" in real  # an error defined elsewhere: its bot.errors kind
    listed = re.search(r"`type` is one of (.*?) —", (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == real

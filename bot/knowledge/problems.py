"""Problems found in input files: reported with file and line, never fatal to the rest of a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


@dataclass
class Findings:
    """The problems (rows or files skipped) and notices (worth saying, not errors) of one run.

    Each is passed to ``echo`` the moment it is found, so a long ingest reports as it goes instead
    of keeping everything back until the end.
    """

    echo: Callable[[str], None] | None = None
    problems: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)

    def problem(self, problem: Problem) -> None:
        self.problems.append(problem)
        if self.echo:
            self.echo(str(problem))

    def notice(self, notice: Problem) -> None:
        self.notices.append(notice)
        if self.echo:
            self.echo(f"note: {notice}")

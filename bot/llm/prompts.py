"""Prompt templates: versioned TOML files in ``prompts/`` (``NAME.vN.toml``), not strings in code.

Each file has ``name``, ``version``, ``system`` and ``user``; placeholders are ``$name``
(string.Template), so JSON braces in a prompt need no escaping. The newest version of a name is
used unless a version is asked for; a missing placeholder is an error, not an empty string.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

from bot.errors import SettingsError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.toml$")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    system: str
    user: str

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def messages(self, **values: str) -> list[dict[str, str]]:
        try:
            return [
                {"role": "system", "content": Template(self.system.strip()).substitute(values)},
                {"role": "user", "content": Template(self.user.strip()).substitute(values)},
            ]
        except KeyError as exc:
            raise ValueError(f"prompt {self.id} needs a value for ${exc.args[0]}") from None


@cache
def load_prompt(name: str, folder: Path = DEFAULT_DIR, version: int | None = None) -> Prompt:
    candidates = []
    for path in folder.glob(f"{name}.v*.toml"):
        m = _FILE.match(path.name)
        if m and m.group("name") == name and (version is None or int(m.group("version")) == version):
            candidates.append((int(m.group("version")), path))
    if not candidates:
        raise SettingsError(f"no prompt template {name!r} in {folder} (PROMPTS_DIR)")
    number, path = max(candidates)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Prompt(name, number, str(data["system"]), str(data["user"]))
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise SettingsError(f"prompt template {path} is malformed ({exc})") from None

"""Prompts are data: TOML files in ``prompts/``, validated when loaded.

Each file declares the variables its template uses (``${name}``, from ``string.Template``, so
JSON braces in a prompt need no escaping). A placeholder that is not declared, a declared
variable the template never uses, or a render call that leaves one out is a loud error
naming the variable. A library can carry values of its own (``with_values``: the language
digests are written in), filled into every template that declares them. The library's
version is a hash of every file and of those values: a changed prompt, or another language,
invalidates cached digests by itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bot.core.errors import PromptError


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    variables: list[str]
    template: str

    @model_validator(mode="after")
    def _placeholders_match(self) -> PromptTemplate:
        template = Template(self.template)
        if not template.is_valid():
            raise ValueError(f"prompt {self.name!r}: malformed placeholder (use ${{name}})")
        used = set(template.get_identifiers())
        declared = set(self.variables)
        if undeclared := sorted(used - declared):
            raise ValueError(f"prompt {self.name!r} uses undeclared variable(s): {undeclared}")
        if unused := sorted(declared - used):
            raise ValueError(f"prompt {self.name!r} declares unused variable(s): {unused}")
        return self

    def render(self, **values: object) -> str:
        if missing := sorted(set(self.variables) - values.keys()):
            raise PromptError(f"prompt {self.name!r} needs variable(s): {', '.join(missing)}")
        if extra := sorted(values.keys() - set(self.variables)):
            raise PromptError(f"prompt {self.name!r} has no variable(s): {', '.join(extra)}")
        return Template(self.template).substitute({k: str(v) for k, v in values.items()}).strip()


def default_prompts_dir() -> Path:
    """Inside a wheel the prompts travel as ``bot/_prompts``; in a checkout they sit at the top."""
    packaged = resources.files("bot").joinpath("_prompts")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "prompts"


class PromptLibrary:
    """Every prompt file of a folder, loaded and validated once."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_prompts_dir()
        if not self.directory.is_dir():
            raise PromptError(f"prompt folder not found: {self.directory}")
        self._prompts: dict[str, PromptTemplate] = {}
        digest = hashlib.sha256()
        for path in sorted(self.directory.glob("*.toml")):
            raw = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + raw)
            try:
                data = tomllib.loads(raw.decode("utf-8"))
                self._prompts[path.stem] = PromptTemplate(name=path.stem, **data)
            except (tomllib.TOMLDecodeError, ValidationError, TypeError) as error:
                raise PromptError(f"invalid prompt file {path}: {error}") from error
        self._files_version = digest.hexdigest()[:12]
        self.values: dict[str, str] = {}
        self.version = self._files_version

    def with_values(self, **values: str) -> PromptLibrary:
        """The same prompts with these variables filled in wherever a template declares them."""
        library = copy.copy(self)
        library.values = {**self.values, **values}
        mixed = self._files_version + json.dumps(library.values, sort_keys=True)
        library.version = hashlib.sha256(mixed.encode()).hexdigest()[:12]
        return library

    def get(self, name: str) -> PromptTemplate:
        try:
            return self._prompts[name]
        except KeyError:
            raise PromptError(
                f"no prompt named {name!r} in {self.directory} "
                f"(have: {', '.join(sorted(self._prompts))})"
            ) from None

    def render(self, name: str, **values: object) -> str:
        template = self.get(name)
        preset = {k: v for k, v in self.values.items() if k in template.variables}
        return template.render(**{**preset, **values})

"""GitHub linguist's rules, from its own data files (analysis/linguist_data, see ORIGIN.md there).

Which paths linguist leaves out of language statistics (vendored, generated, documentation) and the
colour it gives each language. Paths are judged as linguist does: the `linguist-vendored`,
`linguist-generated` and `linguist-documentation` attributes of the tree's `.gitattributes` first
(set: left out; unset or `false`: kept, overriding the standard lists), then the standard path
patterns of vendor.yml and documentation.yml.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

import yaml

from analysis.gitcmd import Mirror, run_git

DATA_DIR = Path(__file__).resolve().parent / "linguist_data"
ATTRIBUTES = ("linguist-vendored", "linguist-generated", "linguist-documentation")
DEFAULT_COLOUR = "#8b949e"
# cloc's names for languages that linguist names differently.
CLOC_NAMES = {"Bourne Shell": "Shell", "Bourne Again Shell": "Shell", "C/C++ Header": "C", "DOS Batch": "Batchfile",
              "MSBuild script": "XML", "Protocol Buffers": "Protocol Buffer"}  # fmt: skip


def _load(name: str) -> object:
    with open(DATA_DIR / name, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders only


@cache
def standard_patterns() -> re.Pattern[str]:
    """Return one compiled regex of linguist's vendored and documentation path patterns."""
    return re.compile("|".join(f"(?:{p})" for p in standard_list()))


def standard_list() -> list[str]:
    """Return linguist's vendored and documentation path patterns, in file order."""
    return [*_load("vendor.yml"), *_load("documentation.yml")]  # type: ignore[misc]


# Most of linguist's patterns start with "(^|/)": they can only match where a path component starts.
_COMPONENT_START = re.compile(r"^\(\^\|\\?/\)")


@cache
def _split_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Return (the "(^|/)X" patterns as one anchored alternation of the X's, all others as one regex).

    A search for "(^|/)X" succeeds exactly when X matches at the start of the path or just after
    a "/"; matching the alternation there (a few positions per path) is far cheaper than a search
    of every pattern at every position.
    """
    at_component, anywhere = [], []
    for pattern in standard_list():
        rest = _COMPONENT_START.sub("", pattern, count=1)
        outside_classes = re.sub(r"\[[^\]]*\]", "", rest)  # "[^.]" is a class, not an anchor
        if rest != pattern and not re.search(r"\^|\(\?<|\\\d", outside_classes):
            at_component.append(rest)
        else:
            anywhere.append(pattern)
    return (re.compile("|".join(f"(?:{p})" for p in at_component)), re.compile("|".join(f"(?:{p})" for p in anywhere)))


@lru_cache(maxsize=1 << 16)
def standard_excluded(path: str) -> bool:
    """Tell whether one of linguist's standard vendored or documentation patterns matches `path`.

    The same answer as `standard_patterns().search(path)`, about a hundred times faster.
    """
    at_component, anywhere = _split_patterns()
    if at_component.match(path) or any(at_component.match(path, i + 1) for i, c in enumerate(path) if c == "/"):
        return True
    return anywhere.search(path) is not None


@cache
def colours() -> dict[str, str]:
    """Return {lower-case language name or alias: colour} from languages.yml."""
    table: dict[str, str] = {}
    for name, spec in _load("languages.yml").items():  # type: ignore[attr-defined]
        colour = spec.get("color")
        if not colour:
            continue
        table.setdefault(name.lower(), colour)
        for alias in spec.get("aliases") or []:
            table.setdefault(str(alias).lower(), colour)
    return table


def colour(language: str) -> str:
    """Return linguist's colour of a language (cloc's or linguist's name), grey when it has none."""
    table = colours()
    name = CLOC_NAMES.get(language, language).lower()
    return table.get(name) or table.get(name.replace(" ", "-")) or DEFAULT_COLOUR


def attribute_states(mirror: Mirror, tree: str, paths: list[str]) -> dict[str, dict[str, str]]:
    """Return {path: {attribute: value}} of the linguist attributes set or unset on these paths.

    git evaluates `.gitattributes` of `tree` itself: the tree is read into a private index and
    `git check-attr --cached` answers from it (this works on git before 2.40, which lacks --source).
    Values are git's: "set", "unset" or the assigned string; unspecified attributes are left out.
    """
    if not paths:
        return {}
    with tempfile.TemporaryDirectory(prefix="pt-attr-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git = [f"--git-dir={mirror.path}"]
        run_git([*git, "read-tree", f"{tree}^{{tree}}"], cwd=mirror.path, auth_env=env, timeout=mirror.timeout,
                secrets=mirror.secrets)  # fmt: skip
        stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
        out = run_git([*git, "check-attr", "--cached", "--stdin", "-z", *ATTRIBUTES], cwd=mirror.path,
                      auth_env=env, timeout=mirror.timeout, secrets=mirror.secrets, input=stdin).stdout  # fmt: skip
    fields = out.split(b"\0")
    states: dict[str, dict[str, str]] = {}
    for start in range(0, len(fields) - 2, 3):
        path, attribute, value = (f.decode("utf-8", "surrogateescape") for f in fields[start : start + 3])
        if value != "unspecified":
            states.setdefault(path, {})[attribute] = value
    return states


def excluded(path: str, attributes: dict[str, str]) -> bool:
    """Tell whether linguist leaves this path out, given its linguist attributes."""
    values = [attributes.get(name) for name in ATTRIBUTES]
    if any(v is not None and v not in {"unset", "false"} for v in values):
        return True
    if any(v in {"unset", "false"} for v in values):
        return False
    return standard_excluded(path)


def authored_paths(mirror: Mirror, tree: str, paths: Iterable[str], *, attributes: bool = True) -> set[str]:
    """Return the paths linguist counts as written by the project (not vendored, generated or docs).

    `attributes=False` says the tree has no `.gitattributes` file: git is not asked (a mirror's
    own info/attributes still is, when there is one).
    """
    wanted = list(paths)
    asked = attributes or (mirror.path / "info" / "attributes").exists()
    states = attribute_states(mirror, tree, wanted) if asked else {}
    return {path for path in wanted if not excluded(path, states.get(path, {}))}


def notebook_code_lines(data: bytes) -> int | None:
    """Return the non-blank lines of a Jupyter notebook's code cells (no markdown, no outputs).

    None when the content is not a notebook git can show as JSON with cells.
    """
    try:
        cells = json.loads(data).get("cells")
    except (ValueError, AttributeError):
        return None
    if not isinstance(cells, list):
        return None
    lines = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        lines += sum(1 for line in text.splitlines() if line.strip())
    return lines

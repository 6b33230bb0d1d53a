"""YAML loading with ``include:`` + overrides, and errors that name the file and key path.

A mapping with an ``include: PATH`` key is replaced by the content of that file (resolved
relative to the including file, then to the bundled ``configs/`` folder), deep-merged with
the mapping's other keys as overrides. Every leaf remembers the file it came from, so a
validation error names the file the user has to edit.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hyperdrive_sim.errors import SpecError

INCLUDE = "include"
M = TypeVar("M", bound=BaseModel)
KeyPath = tuple[str | int, ...]


def bundled_dir(kind: str) -> Path:
    """The repository's (or installed wheel's) ``configs`` or ``experiments`` folder."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / kind, here / "_data" / kind):
        if candidate.is_dir():
            return candidate
    return here.parent / kind


def format_key(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path) -> Any:
    """Parse one YAML file safely; syntax errors carry the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read file ({exc.__class__.__name__})", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise SpecError(f"YAML syntax error at {where}: {exc.problem}", file=str(path)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", file=str(path)) from None


def _find_include(ref: Any, base: Path, origin: Path, key: KeyPath) -> Path:
    if not isinstance(ref, str) or not ref:
        raise SpecError("include must be a file path", file=str(origin), key=format_key(key))
    names = [ref] if ref.endswith((".yaml", ".yml")) else [ref, ref + ".yaml"]
    for root in (base, bundled_dir("configs")):
        for name in names:
            candidate = (root / name).resolve()
            if candidate.is_file():
                return candidate
    raise SpecError(
        f"included file {ref!r} not found (looked next to {origin.name} and in the bundled "
        f"configs/ folder)",
        file=str(origin),
        key=format_key((*key, INCLUDE)),
    )


class Loaded:
    """Merged YAML data plus the file every key path came from."""

    def __init__(self, data: Any, origins: dict[KeyPath, Path], root: Path):
        self.data = data
        self.origins = origins
        self.root = root

    def file_of(self, path: KeyPath) -> Path:
        for n in range(len(path), -1, -1):
            if path[:n] in self.origins:
                return self.origins[path[:n]]
        return self.root


def _expand(node: Any, origin: Path, key: KeyPath, origins: dict, stack: tuple[Path, ...]):
    origins[key] = origin
    if isinstance(node, list):
        return [_expand(v, origin, (*key, i), origins, stack) for i, v in enumerate(node)]
    if not isinstance(node, Mapping):
        return node
    for k in node:
        if not isinstance(k, str):
            raise SpecError(
                f"keys must be strings, got {k!r}", file=str(origin), key=format_key(key)
            )
    result: dict[str, Any] = {}
    if INCLUDE in node:
        target = _find_include(node[INCLUDE], origin.parent, origin, key)
        if target in stack:
            chain = " -> ".join(p.name for p in (*stack, target))
            raise SpecError(
                f"include cycle: {chain}; a file must not include itself, directly or not",
                file=str(origin),
                key=format_key((*key, INCLUDE)),
            )
        included = read_yaml(target)
        if not isinstance(included, Mapping):
            raise SpecError("an included file must hold a mapping", file=str(target))
        result = _expand(included, target, key, origins, (*stack, target))
        origins[key] = origin
    for k, v in node.items():
        if k == INCLUDE:
            continue
        value = _expand(v, origin, (*key, k), origins, stack)
        if isinstance(value, dict) and isinstance(result.get(k), dict):
            result[k] = _merge(result[k], value)
        else:
            result[k] = value
    return result


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = (
            _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
        )
    return merged


def load(path: str | Path) -> Loaded:
    """Read ``path`` and resolve every ``include:`` in it."""
    root = Path(path).resolve() if Path(path).exists() else Path(path)
    origins: dict[KeyPath, Path] = {}
    data = _expand(read_yaml(root), root, (), origins, (root,))
    if data is None:
        raise SpecError("file is empty; expected a mapping of keys", file=str(path))
    return Loaded(data, origins, root)


def validate(model: type[M], loaded: Loaded, *, context: dict | None = None) -> M:
    """Validate merged data against a pydantic model; errors name file and key path."""
    try:
        return model.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        raise spec_error_from(exc, loaded) from None


def spec_error_from(exc: ValidationError, loaded: Loaded | None = None, file: str | None = None):
    """Turn the first pydantic error into a SpecError; mention how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = _describe(first)
    unknown = _UNKNOWN_KEY.fullmatch(message)
    if unknown:  # Spec._known_keys reports at the model; point at the key itself
        key, allowed = unknown.group(1), unknown.group(2).split(", ")
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        loc = (*loc, key)
        message = f"unknown key{hint}; expected one of: {', '.join(allowed)}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    where = str(loaded.file_of(loc)) if loaded else file
    return SpecError(message, file=where, key=format_key(loc) or None)


_UNKNOWN_KEY = re.compile(r"unknown key '([^']*)'; allowed keys: (.*)")
_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping (key: value pairs)",
    "model_type": "expected a mapping (key: value pairs)",
    "model_attributes_type": "expected a mapping (key: value pairs)",
}


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _describe(error: dict) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key (see `hyperdrive-sim schema` for the allowed keys)"
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, got {_shown(value)}"
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("greater than or equal to", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("less than or equal to", "le"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        bound = ctx.get(name)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"expected a number {words} {bound}, got {_shown(value)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {_shown(value)}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {_shown(value)}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx.get('pattern')}, got {_shown(value)}"
    return f"{msg[0].lower()}{msg[1:]}, got {_shown(value)}"

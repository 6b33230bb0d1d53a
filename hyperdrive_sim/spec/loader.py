"""YAML loading with ``include:`` + overrides, and errors that name the file and key path.

A mapping with an ``include: PATH`` key is replaced by the content of that file (resolved
relative to the including file, then to the bundled ``configs/`` folder), deep-merged with
the mapping's other keys as overrides. Every leaf remembers the file it came from, so a
validation error names the file the user has to edit.

Every file goes through :func:`read_yaml`, which bounds what one input may cost (see
``hyperdrive_sim.limits``): the file size, the nesting depth, and the number of nodes counted
with alias multiplicity, so an alias bomb is refused before it is expanded. :func:`load` also
bounds the include chain and the merged document, and applies ``--set`` style overrides.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from hyperdrive_sim import limits
from hyperdrive_sim.errors import SpecError, did_you_mean
from hyperdrive_sim.readfile import INCLUDE_PATH_ENV, check_path, open_input

INCLUDE = "include"
#: origin recorded for values given by :func:`apply_overrides` (``--set`` on the command line)
OVERRIDE_ORIGIN = "--set"
#: mappings whose keys are themselves dotted paths (sweep axes): an override's rest is one key
DOTTED_KEY_MAPPINGS = {("sweep", "grid"), ("sweep", "zip")}
M = TypeVar("M", bound=BaseModel)
KeyPath = tuple[str | int, ...]


def bundled_dir(kind: str) -> Path:
    """The repository's (or installed wheel's) ``configs`` or ``experiments`` folder."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / kind, here / "_data" / kind):
        if candidate.is_dir():
            return candidate
    return here.parent / kind


def bundled_experiments() -> list[str]:
    """Names of the bundled experiments (file stems), sorted."""
    return sorted(p.stem for p in bundled_dir("experiments").glob("*.yaml"))


def find_experiment(name_or_path: str | Path) -> Path:
    """An existing experiment file as is, else the bundled experiment of that name.

    ``quickstart`` and ``quickstart.yaml`` both name the bundled
    ``experiments/quickstart.yaml``. Raises :class:`SpecError` listing the bundled names.
    """
    path = check_path(name_or_path, error=SpecError)
    if path.is_file():
        return path
    if path.exists() and not path.is_dir():
        return path  # a device or pipe: read_yaml refuses it without reading
    text = str(name_or_path)
    stem = text.removesuffix(".yaml").removesuffix(".yml")
    names = bundled_experiments()
    if path.parent == Path(".") and stem in names:
        return bundled_dir("experiments") / f"{stem}.yaml"
    if path.is_dir():
        raise SpecError("expected an experiment YAML file, got a folder", file=text)
    raise SpecError(
        f"file not found, and no bundled experiment has that name; bundled: {', '.join(names)}",
        file=text,
    )


def format_key(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and documents too large once aliases expand.

    Each composed node's expanded size (nodes, counting every alias use in full) and depth
    are computed from its children's, which are composed first, so the check costs one pass
    over the text however many times an anchor is reused.
    """

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self.file = file
        self._nesting = 0
        self._stats: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)

    def _fail(self, message: str, mark: Any) -> SpecError:
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return SpecError(message + where, file=self.file)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._stats:
                raise self._fail(
                    f"alias *{event.anchor} is used inside its own anchor's value, which "
                    "would make the document infinitely deep",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        collection = self.check_event(SequenceStartEvent, MappingStartEvent)
        if collection:
            self._nesting += 1
            if self._nesting > limits.MAX_YAML_DEPTH:
                raise self._fail(
                    f"lists and mappings are nested more than {limits.MAX_YAML_DEPTH} deep "
                    "(the input limit)",
                    self.peek_event().start_mark,
                )
        node = super().compose_node(parent, index)
        if collection:
            self._nesting -= 1
        self._measure(node)
        return node

    def _unique_keys(self, node: MappingNode) -> None:
        """A key given twice in one mapping is refused (YAML says keys are unique; PyYAML
        would silently keep the last value)."""
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            ident = (key.tag, key.value)
            if ident in seen:
                raise self._fail(
                    f"duplicate key {key.value!r}: a key may appear once in a mapping",
                    key.start_mark,
                )
            seen.add(ident)

    def _measure(self, node: Any) -> None:
        if id(node) in self._stats:
            return
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [item for pair in node.value for item in pair]
            self._unique_keys(node)
        else:
            self._stats[id(node)] = (1, 0)
            return
        stats = [self._stats[id(child)] for child in children]
        size = 1 + sum(n for n, _ in stats)
        depth = 1 + max((d for _, d in stats), default=0)
        if size > limits.MAX_YAML_NODES:
            raise self._fail(
                f"the document has more than {limits.MAX_YAML_NODES} values once its aliases "
                "(*name) are expanded (the input limit)",
                node.start_mark,
            )
        if depth > limits.MAX_YAML_DEPTH:
            raise self._fail(
                f"lists and mappings are nested more than {limits.MAX_YAML_DEPTH} deep once "
                "aliases (*name) are expanded (the input limit)",
                node.start_mark,
            )
        self._stats[id(node)] = (size, depth)


# YAML 1.1 (PyYAML) reads 1e-3 and 1.5e3 as strings; YAML 1.2 and users read them as numbers
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


class _BundledLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader, for the project's own large tables (``read_bundled_yaml``)."""


_BundledLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def read_bundled_yaml(path: Path) -> Any:
    """A YAML file the project ships (a memory table read by name), parsed by libyaml when
    it is installed: about ten times faster than ``read_yaml``, whose checks and limits are
    for what users write. The same numbers (tests/test_memory_table.py)."""
    text = _read_text(check_path(path, error=SpecError))
    return yaml.load(text, Loader=_BundledLoader)


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML text safely within the input limits; ``file`` labels the errors."""
    loader = None
    try:  # the reader checks the characters as soon as the loader is made
        loader = _BoundedLoader(text, file)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise SpecError(f"YAML syntax error at {where}: {exc.problem}", file=file) from None
    except yaml.reader.ReaderError as exc:
        raise SpecError(
            f"YAML cannot contain the character {exc.character!r} (position {exc.position})",
            file=file,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


#: suffixes of the files read as YAML specs; no other file is parsed, so an error can never
#: quote a line of a file that is not a spec (docs/security.md)
YAML_SUFFIXES = (".yaml", ".yml")


def _read_text(path: Path) -> str:
    """At most MAX_YAML_BYTES of a regular .yaml or .yml file, decoded as UTF-8."""
    limit = limits.MAX_YAML_BYTES
    with open_input(path, limit=limit, what="YAML file", error=SpecError) as (handle, _):
        if path.suffix.lower() not in YAML_SUFFIXES:
            raise SpecError(
                "expected a YAML file whose name ends in .yaml or .yml; other files are not read",
                file=str(path),
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SpecError(
            f"file is larger than {limit} bytes (the input limit of one YAML file)",
            file=str(path),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("cannot read file (it is not UTF-8 text)", file=str(path)) from None


def read_yaml(path: Path) -> Any:
    """Parse one YAML file safely and within the input limits; errors carry line numbers.

    Only ``.yaml`` and ``.yml`` files are read, and only regular files within the size limit
    (:mod:`hyperdrive_sim.readfile`).
    """
    return parse_yaml(_read_text(check_path(path, error=SpecError)), str(path))


def include_roots(root: Path) -> tuple[Path, ...]:
    """Folders an ``include:`` of the file ``root`` may read: the folder of ``root`` and
    below, the bundled configs/ folder, and the folders of ``HYPERDRIVE_SIM_INCLUDE_PATH``."""
    named = [p for p in os.environ.get(INCLUDE_PATH_ENV, "").split(os.pathsep) if p]
    out = []
    for folder in (Path(root).parent, bundled_dir("configs"), *map(Path, named)):
        try:
            out.append(folder.resolve())
        except (OSError, RuntimeError):
            continue
    return tuple(out)


def _find_include(
    ref: Any, base: Path, origin: Path, key: KeyPath, roots: tuple[Path, ...]
) -> Path:
    """The file an ``include:`` names: a .yaml file next to the including file, else in the
    bundled configs/ folder, that lies within ``roots`` once symbolic links are resolved."""
    where = format_key((*key, INCLUDE))
    if not isinstance(ref, str) or not ref:
        raise SpecError("include must be a file path", file=str(origin), key=format_key(key))
    check_path(ref, key=where, error=SpecError)
    name = ref if ref.lower().endswith(YAML_SUFFIXES) else ref + ".yaml"
    outside = None
    for folder in (base, bundled_dir("configs")):
        try:
            candidate = (folder / name).resolve()
            found = candidate.is_file()
        except (OSError, RuntimeError):  # a loop of links, a path the OS refuses
            continue
        if not found:
            continue
        if any(candidate.is_relative_to(r) for r in roots):
            return candidate
        outside = outside or candidate
    if outside is not None:
        raise SpecError(
            f"included file {ref!r} lies outside the folders includes may read: the "
            f"experiment's folder and below, the bundled configs/ folder, and folders named "
            f"with --include-dir or {INCLUDE_PATH_ENV}",
            file=str(origin),
            key=where,
        )
    raise SpecError(
        f"included file {ref!r} not found (looked for a .yaml file next to {origin.name} and "
        "in the bundled configs/ folder)",
        file=str(origin),
        key=where,
    )


class Loaded:
    """Merged YAML data plus the file every key path came from.

    ``included`` holds the key paths of mappings that came from an ``include:``.
    """

    def __init__(
        self,
        data: Any,
        origins: dict[KeyPath, Path],
        root: Path,
        included: set[KeyPath] | None = None,
    ):
        self.data = data
        self.origins = origins
        self.root = root
        self.included = included if included is not None else set()

    def file_of(self, path: KeyPath) -> Path:
        for n in range(len(path), -1, -1):
            if path[:n] in self.origins:
                return self.origins[path[:n]]
        return self.root


class _Walk:
    """State of one load: nodes seen after includes, mappings that were included, and each
    included file parsed once however often it is included."""

    def __init__(self, root: Path) -> None:
        self.nodes = 0
        self.included: set[KeyPath] = set()
        self.files: dict[str, Any] = {}
        self.roots = include_roots(root)
        self.targets: dict[tuple[str, str], Path] = {}

    def count(self, origin: Path, key: KeyPath) -> None:
        self.nodes += 1
        if self.nodes > limits.MAX_YAML_NODES:
            raise SpecError(
                f"the document has more than {limits.MAX_YAML_NODES} values once includes and "
                "aliases are expanded (the input limit)",
                file=str(origin),
                key=format_key(key) or None,
            )

    def find(self, ref: Any, origin: Path, key: KeyPath) -> Path:
        if not isinstance(ref, str):
            return _find_include(ref, origin.parent, origin, key, self.roots)
        cached = (ref, str(origin))  # str of a Path is cached; its hash is not
        if cached not in self.targets:
            self.targets[cached] = _find_include(ref, origin.parent, origin, key, self.roots)
        return self.targets[cached]

    def read(self, path: Path) -> Any:
        if str(path) not in self.files:
            self.files[str(path)] = read_yaml(path)
        return self.files[str(path)]


def _expand(
    node: Any,
    origin: Path,
    key: KeyPath,
    origins: dict,
    stack: tuple[Path, ...],
    walk: _Walk,
    record: bool = True,
):
    """Resolve includes below ``node``; record origins where they may differ from a parent's.

    Origins are recorded for mapping keys (an include or an override may change the file
    there) but not for list items, which always come from their list's file: a long list
    costs one count per item, not one dictionary entry.
    """
    if record:
        origins[key] = origin
    walk.count(origin, key)
    if len(key) > limits.MAX_YAML_DEPTH:
        raise SpecError(
            f"lists and mappings are nested more than {limits.MAX_YAML_DEPTH} deep once "
            "includes are expanded (the input limit)",
            file=str(origin),
            key=format_key(key),
        )
    if isinstance(node, list):
        items = []
        for i, v in enumerate(node):
            if isinstance(v, (list, dict)):
                v = _expand(v, origin, (*key, i), origins, stack, walk, record=False)
            else:
                walk.count(origin, key)
            items.append(v)
        return items
    if not isinstance(node, dict):
        return node
    for k in node:
        if not isinstance(k, str):
            raise SpecError(
                f"keys must be strings, got {k!r}", file=str(origin), key=format_key(key)
            )
    result: dict[str, Any] = {}
    if INCLUDE in node:
        target = walk.find(node[INCLUDE], origin, key)
        if str(target) in map(str, stack):
            chain = " -> ".join(p.name for p in (*stack, target))
            raise SpecError(
                f"include cycle: {chain}; a file must not include itself, directly or not",
                file=str(origin),
                key=format_key((*key, INCLUDE)),
            )
        if len(stack) > limits.MAX_INCLUDE_DEPTH:
            raise SpecError(
                f"includes are chained more than {limits.MAX_INCLUDE_DEPTH} files deep "
                "(the input limit)",
                file=str(origin),
                key=format_key((*key, INCLUDE)),
            )
        included = walk.read(target)
        if not isinstance(included, Mapping):
            raise SpecError("an included file must hold a mapping", file=str(target))
        result = _expand(included, target, key, origins, (*stack, target), walk)
        origins[key] = origin
        walk.included.add(key)
        record = True  # the overrides below replace keys recorded for the included file
    for k, v in node.items():
        if k == INCLUDE:
            continue
        value = _expand(v, origin, (*key, k), origins, stack, walk, record)
        if isinstance(value, dict) and isinstance(result.get(k), dict):
            result[k] = _merge(result[k], value)
        else:
            result[k] = value
    if INCLUDE in node:
        given = node.get("sources")
        sources = given if isinstance(given, Mapping) else {}
        _restamp_sources(result, node, sources, lambda _: origin.name)
    return result


def _restamp_sources(
    result: dict, given: Mapping, given_sources: Mapping, where: Callable[[str], str]
) -> None:
    """A value overriding an included one no longer has the included file's provenance, nor
    its range of plausible values (the value is now the user's choice)."""
    sources = result.get("sources")
    if not isinstance(sources, dict):
        return
    stale = [k for k in given if k in sources and k not in given_sources and k != "sources"]
    if stale:
        result["sources"] = {**sources, **{k: f"set in {where(k)}" for k in stale}}
    ranges = result.get("ranges")
    given_ranges = given.get("ranges") if isinstance(given.get("ranges"), Mapping) else {}
    if isinstance(ranges, dict):
        drop = [k for k in given if k in ranges and k not in given_ranges and k != "ranges"]
        if drop:
            result["ranges"] = {k: v for k, v in ranges.items() if k not in drop}


def merge(base: dict, over: dict) -> dict:
    """``over`` deep-merged onto ``base`` (nested mappings merge; other values replace)."""
    return _merge(base, over)


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for k, v in over.items():
        merged[k] = (
            _merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
        )
    return merged


def load(path: str | Path, overrides: Sequence[str] = ()) -> Loaded:
    """Read ``path``, resolve every ``include:`` in it, then apply ``overrides``.

    Each override is ``dotted.key=value`` (see :func:`apply_overrides`).
    """
    path = check_path(path, error=SpecError)
    root = path.resolve() if path.exists() else path
    origins: dict[KeyPath, Path] = {}
    walk = _Walk(root)
    data = _expand(read_yaml(root), root, (), origins, (root,), walk)
    if data is None:
        raise SpecError("file is empty; expected a mapping of keys", file=str(path))
    loaded = Loaded(data, origins, root, walk.included)
    return apply_overrides(loaded, overrides) if overrides else loaded


def apply_overrides(loaded: Loaded, overrides: Sequence[str]) -> Loaded:
    """Set ``dotted.key=value`` overrides on loaded data; returns a new :class:`Loaded`.

    The value is parsed as YAML (``12800000``, ``[2x2, 4x4]``, ``{fmm_bits: 1}``); a mapping
    is deep-merged into a mapping already there. Digits index lists (``baselines.0.name``);
    below ``sweep.grid`` and ``sweep.zip`` the rest of the key is one axis name. The origin of
    every value set is ``--set``, so validation errors say ``--set: chip.fmm_bits: ...``. An
    override of a parameter replaces its ``sources`` entry with a note that it was set here.
    """
    if not isinstance(loaded.data, dict):
        raise SpecError("overrides need a mapping at the top of the file", file=str(loaded.root))
    data = _copy(loaded.data)
    origins = dict(loaded.origins)
    for text in overrides:
        key, value = _parse_override(text)
        parent: Any = data
        for depth, part in enumerate(key, 1):
            if isinstance(parent, list) and not isinstance(part, int):
                raise SpecError(
                    f"{format_key(key[: depth - 1])} is a list: index it with a number, got "
                    f"{part!r}",
                    file=OVERRIDE_ORIGIN,
                    key=format_key(key),
                )
            if depth == len(key):
                break
            child = parent[part] if _has(parent, part) else None
            if not isinstance(child, (dict, list)):
                child = {}
                parent[part] = child
                origins[key[:depth]] = Path(OVERRIDE_ORIGIN)  # made by this override
            parent = child
        last = key[-1]
        if isinstance(parent, list) and not _has(parent, last):
            raise SpecError(
                f"index {last} is outside the list of {len(parent)} item(s)",
                file=OVERRIDE_ORIGIN,
                key=format_key(key),
            )
        old = parent[last] if _has(parent, last) else None
        merge = isinstance(old, dict) and isinstance(value, dict)
        parent[last] = _merge(old, value) if merge else value
        if not merge:  # nothing below this key comes from a file any more
            origins = {k: v for k, v in origins.items() if k[: len(key)] != key}
        _mark(value, key, origins)
        sources = parent.get("sources") if isinstance(parent, dict) else None
        if isinstance(sources, dict) and last in sources and last != "sources":
            parent["sources"] = {**sources, last: f"set with {OVERRIDE_ORIGIN}"}
    return Loaded(data, origins, loaded.root, set(loaded.included))


def _mark(value: Any, key: KeyPath, origins: dict[KeyPath, Path]) -> None:
    """Record ``--set`` as the origin of ``key`` and of every key below it in ``value``."""
    origins[key] = Path(OVERRIDE_ORIGIN)
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(v, (*key, k), origins)


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, dict) and part in node


def _parse_override(text: str) -> tuple[KeyPath, Any]:
    """``chip.fmm_bits=12800000`` -> (("chip", "fmm_bits"), 12800000)."""
    dotted, sep, raw = text.partition("=")
    dotted = dotted.strip()
    parts = dotted.split(".")
    if not sep or not all(parts):
        raise SpecError(
            f"expected KEY=VALUE with a dotted key such as chip.fmm_bits=12800000, got {text!r}",
            file=OVERRIDE_ORIGIN,
        )
    key: list[str | int] = []
    for i, part in enumerate(parts):
        if tuple(key) in DOTTED_KEY_MAPPINGS:
            key.append(".".join(parts[i:]))
            break
        key.append(int(part) if part.isdigit() else part)
    value = parse_yaml(raw, f"{OVERRIDE_ORIGIN} {dotted}")
    return tuple(key), value


def with_defaults(model: type[BaseModel], loaded: Loaded) -> Loaded:
    """Fill the sections ``model.section_defaults`` names from their bundled presets.

    An omitted section becomes the preset (its origin the preset's file, its sources the
    preset's). A section given without ``include:`` overrides the preset's keys (deep merge).
    A section that came from an ``include:`` is used as it is.
    """
    defaults: Mapping[str, str] | None = getattr(model, "section_defaults", None)
    if not defaults or not isinstance(loaded.data, dict):
        return loaded
    data = dict(loaded.data)
    origins = dict(loaded.origins)
    for section, ref in defaults.items():
        given = data.get(section)
        if section in data and (not isinstance(given, dict) or (section,) in loaded.included):
            continue
        target = bundled_dir("configs") / ref
        preset_origins: dict[KeyPath, Path] = {}
        walk = _Walk(target)
        preset = _expand(read_yaml(target), target, (section,), preset_origins, (target,), walk)
        if given is not None:
            given_sources = given.get("sources")
            preset = _merge(preset, given)
            _restamp_sources(
                preset,
                given,
                given_sources if isinstance(given_sources, Mapping) else {},
                lambda k, s=section: loaded.file_of((s, k)).name,
            )
        data[section] = preset
        origins = {**preset_origins, **origins}
    return Loaded(data, origins, loaded.root, set(loaded.included))


def validate(model: type[M], loaded: Loaded, *, context: dict | None = None) -> M:
    """Validate merged data against a pydantic model; errors name file and key path."""
    loaded = with_defaults(model, loaded)
    try:
        return model.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        raise spec_error_from(exc, loaded) from None


#: problems of one validation listed in full in the message; more are counted
SHOWN_PROBLEMS = 3


def spec_error_from(exc: ValidationError, loaded: Loaded | None = None, file: str | None = None):
    """Turn pydantic errors into one SpecError: the first names its file and key path, the
    next few follow in full on the same line (``; also ...``), any more are counted."""
    problems = [_problem(e, loaded, file) for e in exc.errors(include_url=False)]
    where, key, message = problems[0]
    extra = []
    for other_where, other_key, other in problems[1:SHOWN_PROBLEMS]:
        place = ": ".join(
            p for p in (other_where if other_where != where else None, other_key) if p
        )
        extra.append(f"{place}: {other}" if place else other)
    if extra:
        message += "; also " + "; also ".join(extra)
    if len(problems) > SHOWN_PROBLEMS:
        more = len(problems) - SHOWN_PROBLEMS
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return SpecError(message, file=where, key=key)


def _problem(
    error: dict, loaded: Loaded | None, file: str | None
) -> tuple[str | None, str | None, str]:
    """(file, key path, message) of one pydantic error."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = describe_error(error)
    unknown = _UNKNOWN_KEY.fullmatch(message)
    given = error.get("input")
    at = loc  # where the file is looked up
    if unknown and isinstance(given, dict) and not _known_keys_of_file(given, unknown, loc, loaded):
        at = (*loc, next(iter(given)))  # the file the mapping came from (an included one)
        # not one known key: not a spec file of this kind, and its keys may be anything (a
        # password file read as YAML): name the place only, never what the file holds
        message = (
            f"none of the keys here is one this section knows ({unknown.group(2)}); is it the "
            "right file?"
        )
    elif unknown:  # Spec._known_keys reports at the model; point at the key itself
        key, allowed = unknown.group(1), unknown.group(2).split(", ")
        loc = (*loc, key)
        message = f"unknown key{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}"
    if not loc and error["type"] in _NOT_A_MAPPING:
        # the file as a whole is no mapping, so no spec file: say what it is, not what it holds
        message = (
            f"expected a mapping (key: value pairs) at the top of the file, got {_kind(given)}"
        )
    inner = _INNER_KEY.fullmatch(message)
    if inner:  # a model validator's message about one of its keys: point at that key
        loc = (*loc, *inner.group(1).split("."))
        message = inner.group(2)
    named = _NAMES_UNKNOWN.fullmatch(message)
    if named:
        loc = (*loc, named.group(1)) if loc[-1:] != (named.group(1),) else loc
        loc = (*loc, named.group(2))
        message = f"unknown parameter {named.group(2)!r}{named.group(3)}"
    if not loc and loaded is not None:  # a check of the whole file naming one of its keys
        named_keys = [k for k in _quoted(message) if (k,) in loaded.origins]
        loc = (named_keys[0],) if named_keys and _from_overrides(loaded, (named_keys[0],)) else loc
    if loaded is None:
        where = file
    elif loc and _from_overrides(loaded, loc):
        where = OVERRIDE_ORIGIN
    else:
        where = str(loaded.file_of(at if at[: len(loc)] == loc else loc))
    return where, format_key(loc) or None, message


def _known_keys_of_file(given: dict, unknown: re.Match, loc: KeyPath, loaded) -> bool:
    """Whether the file that holds the unknown key is a spec: it gives a key this section
    knows, or keys elsewhere in the document (an experiment overriding one chip key). A file
    whose every key is unknown here (a password file read as YAML) is not."""
    allowed = unknown.group(2).split(", ")
    if loaded is None:
        return any(k in allowed for k in given)
    culprit = next((k for k in given if k not in allowed), None)
    source = loaded.file_of((*loc, culprit))
    if source == Path(OVERRIDE_ORIGIN):  # a --set typo: no file to mistake for another
        return True
    return any(
        origin == source and (key[:-1] != loc or key[-1] in allowed)
        for key, origin in loaded.origins.items()
        if key and (len(key) != len(loc) + 1 or key[:-1] == loc)
    )


_NOT_A_MAPPING = ("model_type", "dict_type", "model_attributes_type")


def _kind(value: Any) -> str:
    """What a value is, without quoting it."""
    if value is None:
        return "nothing"
    return {str: "text", list: "a list", bool: "true or false"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _quoted(message: str) -> list[str]:
    return re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)'", message)


def _from_overrides(loaded: Loaded, loc: KeyPath) -> bool:
    """Whether the value at ``loc`` (or something below it) was set with ``--set``."""
    marker = Path(OVERRIDE_ORIGIN)
    return any(
        origin == marker and (key[: len(loc)] == loc or loc[: len(key)] == key)
        for key, origin in loaded.origins.items()
        if key
    )


_UNKNOWN_KEY = re.compile(r"unknown key '([^']*)'; allowed keys: (.*)")
_INNER_KEY = re.compile(r"((?:ranges|sources)\.[A-Za-z0-9_]+): (.*)")
_NAMES_UNKNOWN = re.compile(r"(ranges|sources) names unknown parameter '([^']*)'(.*)")
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


def describe_error(error: dict) -> str:
    """One pydantic error (from ``errors(include_url=False)``) as a short message."""
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

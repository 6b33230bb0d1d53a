"""Every fenced code block of README.md and docs/*.md runs here, one test case per block.

A newcomer copies what the docs show; so every block must work as shown, and every quoted
output must be what a fresh run prints. The test case of a block is named ``FILE:LINE``
(the line of its opening fence), e.g. ``pytest tests/test_docs.py -k README.md:8``.
After a deliberate change of what the commands print, ``HYPERDRIVE_UPDATE_DOCS=1 python -m
pytest tests/test_docs.py`` (add ``-m slow`` for the slow blocks) re-quotes every output
block that differs; review the diff like any other change.

Conventions for doc writers
===========================

Blocks are found with a regex: a line starting with three backticks and an optional language
tag, up to the next line that is three backticks. Indented (4-space) blocks are not tested.
Directives are HTML comments on the (at most 3) lines just above the opening fence; several
may be given, one per line or several on a line. Known directives::

    <!-- expect-exit: N -->            every hyperdrive-sim command of the block exits with N
                                       (default 0); put a failing command in its own block
    <!-- docs-fixture: NAME[, NAME] --> create files the block assumes (see "Fixtures")
    <!-- slow -->                      the case is marked pytest.mark.slow (run with -m slow)
    <!-- continue -->                  run after the previous block of the same kind (python
                                       or commands) of the same file, in the same folder;
                                       python blocks share its namespace
    <!-- output-of: COMMAND -->        the block is COMMAND's stdout (see "Output blocks")
    <!-- stderr-of: COMMAND -->        the block is COMMAND's stderr (error/warning lines)

Any other comment of the form ``<!-- word -->`` or ``<!-- word: ... -->`` there is an error
(a misspelt directive would otherwise be ignored silently).

Every block runs in a fresh temporary folder (its cwd) holding symlinks ``experiments`` and
``configs`` to the repository's folders and a copy of ``schemas`` (a copy, so that
``hyperdrive-sim schema --out schemas/`` cannot overwrite the repository's files). Relative
paths in the docs therefore work, and outputs (``results/...``) land in the temporary folder.

Language tags
-------------
- ``bash``, ``sh``, ``console``, ``shell``: commands. Per line (after dropping a leading
  ``$ `` and joining backslash continuations; empty lines and ``#`` comments are skipped):

  * ``hyperdrive-sim ARGS``: run in-process, ``hyperdrive_sim.cli.main(shlex.split(ARGS))``;
    its exit code must be 0 or the ``expect-exit`` value.
  * lines starting with ``python3 -m venv``, ``pip install``, ``. .venv/bin/activate``,
    ``python -m pytest``, ``python benchmarks/``, ``python scripts/`` are not run
    (installation and long jobs). The README's first command block must be exactly what
    ``.ci/run`` runs: each of its ``&&``-separated commands (with ``pip install`` read as
    ``pip install --quiet``) starts a command line of ``.ci/run``, and both contain
    ``pip install -e .``, ``hyperdrive-sim run experiments/quickstart.yaml``,
    ``pip install -e '.[test]'`` and ``python -m pytest``. Elsewhere, the extras named by
    ``pip install`` must exist in pyproject.toml, and ``python benchmarks/X``,
    ``python scripts/X`` must name existing files.
  * anything else fails as "unknown command in docs": the docs show no command nobody runs.
- ``python``: ``exec`` in a fresh namespace (or, with ``continue``, the namespace of the
  previous python block of the file, which is run first).
- ``yaml``: a mapping with ``layers:`` is a network file: written to a file, loaded with
  ``load_network_yaml`` and shaped at 64x64. A mapping with ``name:`` and ``networks:`` or
  ``inputs:`` is an experiment: written to the folder, loaded with ``load_experiment``,
  expanded (``sweep.points.expand``, or ``explore.space.expand_groups`` when it has an
  ``explore:`` block) and each network it names is loaded. Anything else is a fragment,
  merged (recursively) over the experiment ``{name: doc_fragment, networks: [resnet18],
  inputs: [64x64], meshes: [1x1]}`` and checked the same way. A ``*.yaml`` network a block
  names that does not exist is created as a copy of configs/networks/tiny_residual.yaml; an
  ``*.onnx`` model as the ``tiny.onnx`` fixture.
- ``text``: output or illustration. Without ``output-of``/``stderr-of`` it is not checked,
  except that it must not contain a line starting with ``hyperdrive-sim `` (a command: tag
  the block ``bash`` so it runs).
- no tag: allowed only for output blocks with ``output-of``/``stderr-of``; otherwise the case
  fails with "untagged block: tag it text or give it an output-of comment".
- any other tag fails.

Output blocks
-------------
``<!-- output-of: hyperdrive-sim ARGS -->`` runs the command in a fresh folder (with the
block's fixtures; exit code as ``expect-exit``, default 0) and compares its stdout with the
block exactly, after stripping trailing spaces of every line, trailing empty lines, and
removing the temporary folder's path (``/tmp/.../results`` reads ``results``). Note that a
first run computes everything (``N computed, 0 from cache``), and ``run`` without
``--no-plots`` also prints ``wrote N figures to ...`` (``updating figures...`` goes to
stderr).

Fixtures (``docs-fixture``)
---------------------------
- ``tiny.onnx``: ``model.onnx``, an ONNX graph with a fixed input (1, 3, 64, 64):
  Conv ``conv`` (8 filters, 3x3, pads 1) -> Relu ``relu`` -> GlobalAveragePool ``pool``.
- ``my_net.yaml``: a copy of configs/networks/tiny_residual.yaml named ``my_net.yaml``.
- ``results``: ``hyperdrive-sim run quickstart --out results/quickstart --no-progress
  --no-plots`` has run (a results folder for ``plot`` and friends).

Also checked: no README/docs file mentions DESIGN.md, REFERENCE.md or ../shared.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shlex
import shutil
import tomllib
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TINY_NETWORK = REPO / "configs" / "networks" / "tiny_residual.yaml"
CI_SCRIPT = REPO / ".ci" / "run"

COMMAND_TAGS = frozenset({"bash", "sh", "console", "shell"})
NOT_RUN_PREFIXES = (
    "python3 -m venv",
    "pip install",
    ". .venv/bin/activate",
    "python -m pytest",
    "python benchmarks/",
    "python scripts/",
)
# what the README's first command block and .ci/run must both run
CI_COMMANDS = (
    "pip install -e .",
    "hyperdrive-sim run experiments/quickstart.yaml",
    "pip install -e '.[test]'",
    "python -m pytest",
)
FRAGMENT_BASE = {"name": "doc_fragment", "networks": ["resnet18"], "inputs": ["64x64"]}
FRAGMENT_BASE["meshes"] = ["1x1"]
DIRECTIVES = frozenset(
    {"expect-exit", "docs-fixture", "slow", "continue", "output-of", "stderr-of"}
)
FENCE = re.compile(r"^```(?P<tag>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
COMMENT = re.compile(r"<!--\s*([a-z][a-z_-]*)\s*(?::\s*(.*?))?\s*-->")


# --------------------------------------------------------------------------------------------
# Parsing the markdown


@dataclass
class Block:
    """One fenced block and the directives above it."""

    file: str  # relative to the repository, e.g. docs/onnx.md
    line: int  # 1-based line of the opening fence
    tag: str
    body: str
    directives: dict[str, list[str]] = field(default_factory=dict)
    bad_directives: list[str] = field(default_factory=list)
    index: int = 0  # position among the file's blocks

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def kind(self) -> str:
        if self.tag in COMMAND_TAGS:
            return "commands"
        if self.tag in ("python", "yaml", "text", ""):
            return self.tag or "untagged"
        return "unknown"

    def has(self, name: str) -> bool:
        return name in self.directives

    def value(self, name: str) -> str | None:
        values = self.directives.get(name)
        return values[-1] if values else None


def parse_blocks(text: str, rel: str) -> list[Block]:
    """The fenced blocks of markdown ``text`` (of file ``rel``), each with the directives of
    the 3 lines above it."""
    lines = text.split("\n")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        body = match.group("body").removesuffix("\n")
        block = Block(rel, line, match.group("tag").strip(), body, index=len(blocks))
        for above in reversed(lines[max(0, line - 4) : line - 1]):
            if above.lstrip().startswith("```"):
                break  # the previous block's closing fence: its comments are not ours
            for name, arg in COMMENT.findall(above):
                if name in DIRECTIVES:
                    block.directives.setdefault(name, []).append(arg.strip())
                else:
                    block.bad_directives.append(name)
        blocks.append(block)
    return blocks


ALL_BLOCKS = [
    b
    for path in DOC_FILES
    for b in parse_blocks(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
]
BY_FILE: dict[str, list[Block]] = {}
for _b in ALL_BLOCKS:
    BY_FILE.setdefault(_b.file, []).append(_b)


def _param(block: Block):
    marks = [pytest.mark.slow] if block.has("slow") else []
    return pytest.param(block, id=block.id, marks=marks)


def command_lines(body: str) -> list[tuple[str, str]]:
    """(original line, command) for every non-empty, non-comment line, ``$ `` dropped and
    backslash continuations joined."""
    out, pending = [], ""
    for raw in body.split("\n"):
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        if line.startswith("$ "):
            line = line[2:].strip()
        if not line or line.startswith("#"):
            continue
        out.append((raw, line))
    if pending:
        out.append((pending, pending))
    return out


# --------------------------------------------------------------------------------------------
# The temporary folder, fixtures and the CLI


def make_workdir(tmp: Path) -> Path:
    """A folder where the docs' relative paths work and outputs stay out of the repository."""
    for name in ("experiments", "configs"):
        (tmp / name).symlink_to(REPO / name, target_is_directory=True)
    shutil.copytree(REPO / "schemas", tmp / "schemas")
    return tmp


def write_tiny_onnx(path: Path) -> None:
    """Conv (3->8, 3x3, pads 1) -> Relu -> GlobalAveragePool on a fixed 1x3x64x64 input."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((8, 3, 3, 3), dtype=np.float32), "conv.weight")
    nodes = [
        helper.make_node(
            "Conv",
            ["image", "conv.weight"],
            ["c"],
            name="conv",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["out"], name="pool"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 1, 1])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def run_cli(command: str) -> tuple[int, str, str]:
    """Run ``hyperdrive-sim ARGS`` in-process: (exit code, stdout, stderr)."""
    from hyperdrive_sim.cli import main

    args = command.removeprefix("$ ").strip()
    assert args.startswith("hyperdrive-sim "), f"not a hyperdrive-sim command: {command!r}"
    argv = shlex.split(args[len("hyperdrive-sim ") :], comments=True)
    out, err = io.StringIO(), io.StringIO()
    show = warnings.showwarning  # main() replaces it for one-line warnings
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        warnings.showwarning = show
    return code, out.getvalue(), err.getvalue()


def make_fixture(name: str, cwd: Path) -> None:
    if name == "tiny.onnx":
        write_tiny_onnx(cwd / "model.onnx")
    elif name == "my_net.yaml":
        shutil.copy(TINY_NETWORK, cwd / "my_net.yaml")
    elif name == "results":
        command = "hyperdrive-sim run quickstart --out results/quickstart --no-progress --no-plots"
        code, _, err = run_cli(command)
        assert code == 0, f"fixture 'results' failed ({code}): {err}"
    else:
        pytest.fail(f"unknown docs-fixture {name!r}; known: tiny.onnx, my_net.yaml, results")


def prepare(block: Block, cwd: Path) -> None:
    """Check the block's directives and create its fixtures."""
    if block.bad_directives:
        pytest.fail(
            f"unknown directive(s) {block.bad_directives} above the block; "
            f"known: {', '.join(sorted(DIRECTIVES))}"
        )
    for arg in block.directives.get("docs-fixture", []):
        for name in filter(None, (n.strip() for n in arg.split(","))):
            make_fixture(name, cwd)


def expected_exit(block: Block) -> int:
    value = block.value("expect-exit")
    if value is None:
        return 0
    if not value.isdigit():
        pytest.fail(f"expect-exit needs an integer, got {value!r}")
    return int(value)


def chain(block: Block, blocks: list[Block]) -> list[Block]:
    """The block preceded by the blocks it continues (same kind, same file), oldest first;
    ``blocks`` are all blocks of its file."""
    out = [block]
    while out[0].has("continue"):
        earlier = [b for b in blocks[: out[0].index] if b.kind == block.kind]
        if not earlier:
            pytest.fail(f"{out[0].id}: 'continue' but no earlier {block.kind} block in the file")
        out.insert(0, earlier[-1])
    return out


# --------------------------------------------------------------------------------------------
# Command blocks


def ci_commands() -> list[str]:
    lines = [ln.strip() for ln in CI_SCRIPT.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _starts(command: str, line: str) -> bool:
    """Is ``command`` the first words of ``line``?"""
    a, b = command.split(), line.split()
    return b[: len(a)] == a


def check_install_block(block: Block) -> None:
    """The README's first command block is what .ci/run runs (CI installs from scratch)."""
    ci = ci_commands()
    segments = [seg.strip() for _, line in command_lines(block.body) for seg in line.split("&&")]
    for cmd in CI_COMMANDS:
        assert cmd in segments, f"README's install block lacks {cmd!r}"
        ci_cmd = cmd.replace("pip install ", "pip install --quiet ")
        assert any(_starts(ci_cmd, ln) for ln in ci), f".ci/run does not run {ci_cmd!r}"
    for seg in segments:
        ci_seg = seg.replace("pip install ", "pip install --quiet ")
        assert any(_starts(ci_seg, ln) for ln in ci), (
            f"README's install block runs {seg!r}, which .ci/run does not ({ci_seg!r})"
        )


def check_not_run(command: str) -> None:
    """An installation or long command that is not run: check what it names exists."""
    for seg in (s.strip() for s in command.split("&&")):
        if not seg.startswith(NOT_RUN_PREFIXES):
            pytest.fail(
                f"unknown command in docs: {seg!r} (chained after an installation command; "
                "put it on a line of its own)"
            )
        if seg.startswith("pip install"):
            extras = {
                e.strip() for group in re.findall(r"\[([^\]]*)\]", seg) for e in group.split(",")
            }
            with open(REPO / "pyproject.toml", "rb") as fh:
                known = set(tomllib.load(fh)["project"]["optional-dependencies"])
            assert extras <= known, f"{seg!r}: no such extra {extras - known} in pyproject.toml"
        elif seg.startswith(("python benchmarks/", "python scripts/")):
            script = seg.split()[1]
            assert (REPO / script).is_file(), f"{seg!r}: {script} does not exist"


def run_command_block(block: Block, cwd: Path) -> None:
    first_commands = next(b for b in BY_FILE["README.md"] if b.kind == "commands")
    expect = expected_exit(block)
    for raw, command in command_lines(block.body):
        if command.startswith("hyperdrive-sim "):
            code, out, err = run_cli(command)
            assert code == expect, (
                f"{command!r} exited with {code}, expected {expect}\nstdout:\n{out}\nstderr:\n{err}"
            )
        elif command.startswith(NOT_RUN_PREFIXES):
            if block is not first_commands:
                check_not_run(command)
        else:
            pytest.fail(f"unknown command in docs: {raw.strip()!r}")
    if block is first_commands:
        check_install_block(block)


# --------------------------------------------------------------------------------------------
# YAML blocks


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _network_refs(data: dict) -> list[Any]:
    refs = list(data.get("networks") or [])
    grid = ((data.get("sweep") or {}).get("grid") or {}) if isinstance(data, dict) else {}
    refs += list(grid.get("network") or [])
    return refs


def create_referenced_files(data: dict, cwd: Path) -> None:
    """Create the YAML networks and ONNX models an experiment names but the docs do not."""
    for ref in _network_refs(data):
        if isinstance(ref, str):
            name = ref
        elif isinstance(ref, dict):
            name = ref.get("file") or ref.get("onnx")
        else:
            continue
        if not isinstance(name, str):
            continue
        path = cwd / name
        if path.exists():
            continue
        if name.endswith((".yaml", ".yml")):
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(TINY_NETWORK, path)
        elif name.endswith(".onnx"):
            write_tiny_onnx(path)


def check_experiment(data: dict, cwd: Path) -> None:
    from hyperdrive_sim.experiment import load_experiment
    from hyperdrive_sim.simulate import resolve_network

    create_referenced_files(data, cwd)
    path = cwd / "doc_experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    spec, base = load_experiment(path)
    if spec.explore is not None:
        from hyperdrive_sim.explore.space import expand_groups

        groups = expand_groups(spec, spec.explore, None)
        assert groups, "the design space is empty"
        points = [g.point for g in groups]
    else:
        from hyperdrive_sim.sweep.points import expand

        _, points = expand(spec, str(path))
        assert points, "the experiment has no points"
    for ref in {str(p.network): p.network for p in points}.values():
        resolve_network(ref, base)


def run_yaml_block(block: Block, cwd: Path) -> None:
    data = yaml.safe_load(block.body)
    assert isinstance(data, dict), f"a YAML block must be a mapping, got {type(data).__name__}"
    if "layers" in data:
        from hyperdrive_sim.workload.yaml_network import load_network_yaml

        path = cwd / "doc_network.yaml"
        path.write_text(block.body + "\n", encoding="utf-8")
        shaped = load_network_yaml(path).at(64, 64)
        assert shaped.macs > 0
    elif "name" in data and ("networks" in data or "inputs" in data):
        check_experiment(data, cwd)
    else:
        base = dict(FRAGMENT_BASE)
        if "explore" in data:  # explore.mesh gives the meshes; meshes: beside it is refused
            base.pop("meshes")
        check_experiment(_merge(base, data), cwd)


# --------------------------------------------------------------------------------------------
# Output blocks


def normalise(text: str, cwd: Path) -> str:
    for root in {str(cwd.resolve()), str(cwd)}:
        text = text.replace(root + "/", "").replace(root, "")
    lines = [ln.rstrip() for ln in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def check_output_block(block: Block, cwd: Path) -> None:
    stream = "output-of" if block.has("output-of") else "stderr-of"
    command = block.value(stream) or ""
    if not command.removeprefix("$ ").startswith("hyperdrive-sim "):
        pytest.fail(f"{stream} needs a hyperdrive-sim command, got {command!r}")
    code, out, err = run_cli(command)
    expect = expected_exit(block)
    assert code == expect, f"{command!r} exited with {code}, expected {expect}\n{err}"
    actual = normalise(out if stream == "output-of" else err, cwd)
    quoted = normalise(block.body, cwd)
    updating = os.environ.get("HYPERDRIVE_UPDATE_DOCS") == "1"
    if quoted != actual and updating and REPO / block.file in DOC_FILES:
        _rewrite_block(block, actual)
        return
    assert quoted == actual, f"the block is not what {command!r} prints; it prints:\n{actual}"


def _rewrite_block(block: Block, text: str) -> None:
    """Replace ``block``'s body in its file with ``text`` (HYPERDRIVE_UPDATE_DOCS=1: after a
    deliberate model change, re-quote what the commands print; review the diff)."""
    path = REPO / block.file
    lines = path.read_text(encoding="utf-8").split("\n")
    body = block.body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("```") and lines[i + 1 : i + 1 + len(body)] == body:
            end = i + 1 + len(body)
            if end < len(lines) and lines[end].startswith("```"):
                lines[i + 1 : end] = text.split("\n")
                path.write_text("\n".join(lines), encoding="utf-8")
                return
    pytest.fail(f"{block.id}: could not find the block to rewrite")


# --------------------------------------------------------------------------------------------
# The tests


def run_block(block: Block, cwd: Path, namespace: dict[str, Any]) -> None:
    kind = block.kind
    if kind in ("text", "untagged") and (block.has("output-of") or block.has("stderr-of")):
        check_output_block(block, cwd)
    elif kind == "untagged":
        pytest.fail("untagged block: tag it text or give it an output-of comment")
    elif kind == "text":
        for line in block.body.split("\n"):
            if line.strip().removeprefix("$ ").startswith("hyperdrive-sim "):
                pytest.fail(
                    f"a command in a text block: {line.strip()!r}; tag the block bash so it "
                    "runs (or quote its output with an output-of comment)"
                )
    elif kind == "commands":
        run_command_block(block, cwd)
    elif kind == "python":
        exec(compile(block.body, block.id, "exec"), namespace)  # the docs' own code
    elif kind == "yaml":
        run_yaml_block(block, cwd)
    else:
        pytest.fail(f"unknown language tag {block.tag!r}; use bash, python, yaml or text")


def check_block(block: Block, blocks: list[Block], cwd: Path) -> None:
    """Run ``block`` (after the blocks it continues) in ``cwd``, the current folder."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    todo = chain(block, blocks)
    for earlier in todo[:-1]:
        try:
            prepare(earlier, cwd)
            run_block(earlier, cwd, namespace)
        except BaseException as exc:
            pytest.fail(f"the block this one continues, {earlier.id}, failed: {exc}")
    prepare(block, cwd)
    run_block(block, cwd, namespace)


@pytest.mark.parametrize("block", [_param(b) for b in ALL_BLOCKS])
def test_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block runs as the docs show it (see the module docstring for the rules)."""
    cwd = make_workdir(tmp_path)
    monkeypatch.chdir(cwd)
    check_block(block, BY_FILE[block.file], cwd)


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_internal_references(path: Path) -> None:
    """User docs stand alone: they never point at the project's internal notes."""
    text = path.read_text(encoding="utf-8")
    found = [name for name in ("DESIGN.md", "REFERENCE.md", "../shared") if name in text]
    assert not found, f"{path.name} mentions {found}"


def test_blocks_found() -> None:
    """The regex finds the README's blocks (a broken regex would make every test vacuous).

    Counted by hand: the README opens with an install block (bash) and has a YAML experiment,
    a YAML network and a Python API example at least.
    """
    readme = BY_FILE["README.md"]
    assert readme[0].kind == "commands" and "pip install" in readme[0].body
    assert {"commands", "yaml", "python"} <= {b.kind for b in readme}


# --------------------------------------------------------------------------------------------
# The checker itself: synthetic markdown that must pass or fail (else the rules are vacuous)

FENCE_MARK = "`" * 3


def _md(*parts: str) -> str:
    """Markdown from (directive lines, tag, body) triples written as 'comments|tag|body'."""
    out = []
    for part in parts:
        comments, tag, body = part.split("|", 2)
        out += [c for c in comments.split(";") if c] + [FENCE_MARK + tag, body, FENCE_MARK, ""]
    return "\n".join(out)


def _last_block_error(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Run the last block of ``text`` (and what it continues); its failure message or None."""
    blocks = parse_blocks(text, "synthetic.md")
    cwd = tmp_path / "work"
    cwd.mkdir(parents=True)
    make_workdir(cwd)
    monkeypatch.chdir(cwd)
    try:
        check_block(blocks[-1], blocks, cwd)
    except (Exception, pytest.fail.Exception) as exc:
        return str(exc)
    return None


QUICK_RUN = "hyperdrive-sim run quickstart --out results/q --no-progress --no-plots"
# (markdown, None if it must pass, else a phrase of the expected failure)
CHECKER_CASES = {
    "command_ok": (_md("|bash|$ hyperdrive-sim networks"), None),
    "unknown_command": (_md("|bash|ls -l"), "unknown command in docs: 'ls -l'"),
    "chained_unknown": (_md("|bash|pip install -e . && make"), "unknown command in docs: 'make'"),
    "bad_extra": (_md("|sh|pip install -e '.[nosuch]'"), "no such extra {'nosuch'}"),
    "missing_script": (_md("|bash|python scripts/nosuch.py"), "does not exist"),
    "exit_unexpected": (_md("|bash|hyperdrive-sim network my.yaml"), "exited with 2, expected 0"),
    "exit_expected": (
        _md("<!-- expect-exit: 2 -->|bash|hyperdrive-sim network my.yaml --input 64x64"),
        None,
    ),
    "continuation": (_md("|console|$ hyperdrive-sim network \\\n    resnet18 --input 64x64"), None),
    "fixture_missing": (_md("|bash|hyperdrive-sim network model.onnx"), "exited with 2"),
    "fixture_onnx": (
        _md("<!-- docs-fixture: tiny.onnx -->|bash|hyperdrive-sim network model.onnx"),
        None,
    ),
    "fixture_yaml": (
        _md("<!-- docs-fixture: my_net.yaml -->|bash|hyperdrive-sim network my_net.yaml"),
        None,
    ),
    "fixture_unknown": (
        _md("<!-- docs-fixture: nosuch -->|bash|"),
        "unknown docs-fixture 'nosuch'",
    ),
    "misspelt_directive": (
        _md("<!-- expect_exit: 2 -->|bash|"),
        "unknown directive(s) ['expect_exit']",
    ),
    # a run into a folder whose results.csv the continued block wrote: only then exit 2
    "continue_commands": (
        _md(
            f"|bash|{QUICK_RUN}",
            "<!-- continue -->;<!-- expect-exit: 2 -->|bash|"
            "hyperdrive-sim run quickstart --out results/q/results.csv",
        ),
        None,
    ),
    "no_continue_commands": (
        _md(
            f"|bash|{QUICK_RUN}",
            "<!-- expect-exit: 2 -->|bash|"
            "hyperdrive-sim run quickstart --out results/q/results.csv",
        ),
        "exited with 0, expected 2",
    ),
    "continue_python": (_md("|python|x = 41", "<!-- continue -->|python|assert x + 1 == 42"), None),
    "no_continue_python": (
        _md("|python|x = 41", "|python|assert x + 1 == 42"),
        "'x' is not defined",
    ),
    "python_error": (_md("|python|import hyperdrive_sim.nosuch"), "No module named"),
    "yaml_network": (_md("|yaml|name: n\nlayers:\n  - {type: conv, out: 8, kernel: 3}"), None),
    "yaml_bad_network": (_md("|yaml|name: n\nlayers:\n  - {type: cnov, out: 8}"), "cnov"),
    "yaml_experiment": (
        _md("|yaml|name: e\nnetworks: [resnet18, mine.yaml, m/x.onnx]\ninputs: [64x64]"),
        None,
    ),
    "yaml_fragment": (_md("|yaml|chip: {include: chips/hyperdrive, fmm_bits: 8000000}"), None),
    "yaml_bad_fragment": (_md("|yaml|chip: {fmm_bitz: 8000000}"), "fmm_bitz"),
    "untagged": (_md("|| some output"), "untagged block: tag it text"),
    "text_ok": (_md("|text|any illustration"), None),
    "text_command": (_md("|text|hyperdrive-sim networks"), "a command in a text block"),
    "unknown_tag": (_md("|json|{}"), "unknown language tag 'json'"),
}


@pytest.mark.parametrize("name", list(CHECKER_CASES))
def test_checker(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule of the module docstring passes a good block and catches a bad one."""
    text, expected = CHECKER_CASES[name]
    error = _last_block_error(text, tmp_path, monkeypatch)
    if expected is None:
        assert error is None, error
    else:
        assert error is not None and expected in error, error


@pytest.mark.parametrize("stream", ["output-of", "stderr-of"])
def test_checker_compares_output(
    stream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quoted output passes with trailing spaces and blank lines, and fails when one
    character differs. The quote is what the command prints, captured here directly."""
    command = "hyperdrive-sim network resnet18 --input 64x64"
    if stream == "stderr-of":
        command = "hyperdrive-sim network nosuch.yaml"  # exits 2 with a one-line error
    code, out, err = run_cli(command)
    printed = out if stream == "output-of" else err
    assert printed.count("\n") >= 1
    exit_line = f"<!-- expect-exit: {code} -->;"
    padded = "\n".join(line + "  " for line in printed.split("\n")) + "\n"
    good = _md(f"{exit_line}<!-- {stream}: {command} -->||{padded}")
    assert _last_block_error(good, tmp_path / "good", monkeypatch) is None
    changed = printed.replace("e", "E", 1)
    bad = _md(f"{exit_line}<!-- {stream}: {command} -->|text|{changed}")
    error = _last_block_error(bad, tmp_path / "bad", monkeypatch)
    assert error is not None and "the block is not what" in error, error


def test_normalise() -> None:
    """Temporary paths, trailing spaces and trailing blank lines go (expected by hand)."""
    text = "wrote /tmp/x/results/q/  \nnext /tmp/x\n\n\n"
    assert normalise(text, Path("/tmp/x")) == "wrote results/q/\nnext"


def test_install_block_rule() -> None:
    """The README's install block must run what .ci/run runs, and nothing else."""
    good = parse_blocks(_md(f"|bash|{' && '.join(CI_COMMANDS)}"), "synthetic.md")[0]
    check_install_block(good)
    for text in (" && ".join(CI_COMMANDS[:-1]), " && ".join((*CI_COMMANDS, "pip install x"))):
        block = parse_blocks(_md(f"|bash|{text}"), "synthetic.md")[0]
        with pytest.raises(AssertionError):
            check_install_block(block)

"""Mutation testing of the core model: do the tests notice a wrong number?

Samples mutants of the core modules, each a single change of a kind real modelling bugs
take (ceil <-> floor, swapped names of the same kind such as rows/cols or kh/kw, a dropped
term of a sum, a factor of 2, ``<`` <-> ``<=``, ``+`` <-> ``-``, an off-by-one constant,
``max`` <-> ``min``), applies each to a temporary copy of the package (the real files are
never edited), runs the test files that exercise that module and prints the kill rate per
module and every surviving mutant.

    python scripts/mutate.py --seed 1 --per-module 20

A mutant is killed when its tests fail or time out. Survivors judged equivalent (they
cannot change any result) are listed with their argument in scripts/mutate_equivalent.txt;
they are reported as equivalent, not run, and left out of the kill rate. Not part of the
test suite: a run takes about a minute per module on two cores (docs/testing.md).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "hyperdrive_sim"
EQUIVALENT = Path(__file__).resolve().parent / "mutate_equivalent.txt"

#: core module -> the test files that exercise it (run with -x, in this order)
MODULES: dict[str, tuple[str, ...]] = {
    "mapping/tiling.py": (
        "test_counts_by_hand.py",
        "test_brute_force_counts.py",
        "test_mapping.py",
        "test_verify.py",
    ),
    "mapping/costs.py": (
        "test_counts_by_hand.py",
        "test_brute_force_counts.py",
        "test_mapping.py",
        "test_kernel_reuse.py",
        "test_fused_pooling.py",
        "test_techniques.py",
    ),
    "mapping/plan.py": (
        "test_counts_by_hand.py",
        "test_brute_force_counts.py",
        "test_mapping.py",
        "test_fused_pooling.py",
        "test_weight_cache.py",
        "test_conservation.py",
        "test_verify_partition.py",
    ),
    "pricing/energy.py": ("test_counts_by_hand.py", "test_conservation.py", "test_techniques.py"),
    "pricing/area.py": ("test_counts_by_hand.py", "test_technique_claims.py", "test_techniques.py"),
    "evaluators/analytic.py": (
        "test_schedule_by_hand.py",
        "test_chain_recurrence.py",
        "test_dataflow.py",
        "test_counts_by_hand.py",
        "test_bandwidth.py",
        "test_des.py",
        "test_conservation.py",
    ),
    "evaluators/des/links.py": ("test_schedule_by_hand.py", "test_des.py", "test_bandwidth.py"),
}

#: names of the same kind a slip of the pen swaps (both directions)
SWAPS = (
    ("rows", "cols"),
    ("tile_rows", "tile_cols"),
    ("row_bounds", "col_bounds"),
    ("row_sizes", "col_sizes"),
    ("input_rows", "input_cols"),
    ("height", "width"),
    ("out_h", "out_w"),
    ("kh", "kw"),
    ("m", "n"),
    ("rd", "wr"),
    ("in_bits", "out_bits"),
    ("fmm_read_pj_per_bit", "fmm_write_pj_per_bit"),
    ("wbuf_read_pj_per_bit", "wbuf_write_pj_per_bit"),
    ("fmm_read_bits", "fmm_write_bits"),
    ("wbuf_read_bits", "wbuf_write_bits"),
    ("binary_mac_pj", "xnor_mac_pj"),
    ("fp16_add_pj", "fp16_mul_pj"),
    ("fmm_scale", "cache_scale"),
    ("image_in_bits", "result_out_bits"),
    ("offchip_latency_cycles", "link_latency_cycles"),
    ("offchip_bits_per_cycle", "link_bits_per_cycle"),
    ("before", "after"),
    ("start", "begin"),
    ("sent", "received"),
)
SWAP = {a: b for a, b in SWAPS} | {b: a for a, b in SWAPS}
COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
ARITH = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Div)
#: changed texts shorter than this are printed with their enclosing expression
CONTEXT = 16


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th node of ``ast.walk`` order, and what to do to it."""

    module: str
    index: int
    op: str
    line: int
    where: str  # enclosing function
    text: str  # "before -> after"

    @property
    def key(self) -> str:
        """Stable name used by the equivalent list (no line numbers, which drift)."""
        return f"{self.module}::{self.where}: {self.text}"


def _skipped(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, f-strings, decorators, raise."""
    skip: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            drop(first)  # a docstring (or a bare constant)
        if isinstance(node, ast.AnnAssign | ast.arg):
            drop(node.annotation)
        if isinstance(node, ast.FunctionDef):
            drop(node.returns)
            for d in node.decorator_list:
                drop(d)
        if isinstance(node, ast.JoinedStr | ast.Raise | ast.Import | ast.ImportFrom):
            drop(node)
        if isinstance(node, ast.keyword) and node.arg in ("dtype", "axis", "minlength", "key"):
            drop(node)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_cycles":
            drop(node)
    return skip


def _parents(tree: ast.AST) -> dict[int, tuple[ast.AST, str, int | None]]:
    out: dict[int, tuple[ast.AST, str, int | None]] = {}
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for k, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        out[id(child)] = (node, field, k)
            elif isinstance(value, ast.AST):
                out[id(value)] = (node, field, None)
    return out


def _functions(tree: ast.AST) -> tuple[dict[int, str], dict[str, set[str]]]:
    """Enclosing function name of every node (module level: "<module>"), and the names
    (variables and parameters) each function uses."""
    where: dict[int, str] = {}
    names: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            known = names.setdefault(node.name, set())
            for child in ast.walk(node):
                where[id(child)] = node.name
                if isinstance(child, ast.Name):
                    known.add(child.id)
                elif isinstance(child, ast.arg):
                    known.add(child.arg)
    return where, names


def _is_ceil(node: ast.AST) -> bool:
    """``-(-a // b)``."""
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.BinOp)
        and isinstance(node.operand.op, ast.FloorDiv)
        and isinstance(node.operand.left, ast.UnaryOp)
        and isinstance(node.operand.left.op, ast.USub)
    )


def _numeric(node: ast.AST) -> bool:
    """Plausibly a number (not a string, container or call of a constructor)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    return isinstance(node, ast.Name | ast.Attribute | ast.BinOp | ast.Subscript | ast.Call)


def _candidates(node: ast.AST, parent, names: set[str]) -> list[str]:
    """Mutation operators that apply to ``node`` (``names``: those its function knows)."""
    ops: list[str] = []
    loaded = isinstance(getattr(node, "ctx", None), ast.Load)
    # a Name swaps only to a name its function has (else a NameError, not a modelling bug)
    if isinstance(node, ast.Name) and loaded and SWAP.get(node.id) in names:
        ops.append("swap")
    if isinstance(node, ast.Attribute) and node.attr in SWAP and isinstance(node.ctx, ast.Load):
        ops.append("swap")
    if isinstance(node, ast.Compare) and type(node.ops[0]) in COMPARE:
        ops.append("compare")
    if _is_ceil(node):
        ops.append("ceil->floor")
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_ceil":
        ops.append("ceil->floor")
    if isinstance(node, ast.Attribute) and node.attr in ("ceil", "floor"):
        ops.append("ceil<->floor")
    if isinstance(node, ast.Name) and node.id in ("max", "min") and parent is not None:
        ops.append("max<->min")
    arithmetic = isinstance(node, ast.BinOp) and isinstance(node.op, ARITH)
    if arithmetic and _numeric(node.left) and _numeric(node.right):
        if isinstance(node.op, ast.FloorDiv):
            ops.append("floor->ceil")
        if isinstance(node.op, ast.Add | ast.Sub):
            ops += ["+<->-", "drop-right", "drop-left"]
        ops += ["times-2", "plus-1"]
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
        and parent is not None
        and isinstance(parent[0], ast.BinOp | ast.Compare | ast.Subscript | ast.UnaryOp)
    ):
        ops.append("off-by-one")
    return ops


def _sites(source: str, module: str) -> list[Mutant]:
    tree = ast.parse(source)
    skip, parents = _skipped(tree), _parents(tree)
    where, names = _functions(tree)
    out = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        parent = parents.get(id(node))
        # the inner "-a // b" of a ceil is mutated as a whole (ceil->floor) only
        if _is_ceil_inner(node, parents):
            continue
        function = where.get(id(node), "<module>")
        for op in _candidates(node, parent, names.get(function, set())):
            before = ast.unparse(node)
            after = ast.unparse(_mutated(copy.deepcopy(node), op))
            if before == after:
                continue
            text = f"{before!r} -> {after!r}"
            if len(before) < CONTEXT and parent is not None:  # say where: '0' is everywhere
                text += f" in {_clip(ast.unparse(parent[0]))!r}"
            out.append(Mutant(module, index, op, node.lineno, function, text))
    return out


def _clip(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _is_ceil_inner(node: ast.AST, parents) -> bool:
    """``node`` is part of the ``-(-a // b)`` idiom other than its operands a and b."""
    up = parents.get(id(node))
    if up is None:
        return False
    p = up[0]
    if _is_ceil(p):
        return True  # the FloorDiv inside
    up2 = parents.get(id(p))
    return up2 is not None and _is_ceil(up2[0]) and node is p.left  # the inner -a


def _mutated(node: ast.AST, op: str) -> ast.AST:
    """``node`` changed by ``op`` (a new node, or ``node`` modified in place)."""
    if op == "swap":
        if isinstance(node, ast.Name):
            node.id = SWAP[node.id]
        else:
            node.attr = SWAP[node.attr]
        return node
    if op == "compare":
        node.ops = [COMPARE[type(node.ops[0])](), *node.ops[1:]]
        return node
    if op == "ceil->floor":
        if isinstance(node, ast.Call):  # _ceil(a, b) -> a // b
            return ast.BinOp(node.args[0], ast.FloorDiv(), node.args[1])
        inner = node.operand
        return ast.BinOp(inner.left.operand, ast.FloorDiv(), inner.right)
    if op == "floor->ceil":
        neg = ast.UnaryOp(ast.USub(), node.left)
        return ast.UnaryOp(ast.USub(), ast.BinOp(neg, ast.FloorDiv(), node.right))
    if op == "ceil<->floor":
        node.attr = "floor" if node.attr == "ceil" else "ceil"
        return node
    if op == "max<->min":
        node.id = "min" if node.id == "max" else "max"
        return node
    if op == "+<->-":
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node
    if op == "drop-right":
        return node.left
    if op == "drop-left":
        return node.right if isinstance(node.op, ast.Add) else ast.UnaryOp(ast.USub(), node.right)
    if op == "times-2":
        return ast.BinOp(node, ast.Mult(), ast.Constant(2))
    if op == "plus-1":
        return ast.BinOp(node, ast.Add(), ast.Constant(1))
    if op == "off-by-one":
        node.value = node.value + 1
        return node
    raise ValueError(op)


def apply(source: str, mutant: Mutant) -> str:
    """The module's source with ``mutant`` applied."""
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    parents = _parents(tree)
    target = nodes[mutant.index]
    new = _mutated(target, mutant.op)
    if new is not target:
        parent, field, k = parents[id(target)]
        if k is None:
            setattr(parent, field, new)
        else:
            getattr(parent, field)[k] = new
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def load_equivalent() -> dict[str, str]:
    """Keys of the mutants argued equivalent, with their one-line argument.

    Each entry is a line ``key`` (as printed by this script) followed by a line
    ``    because: argument``; ``#`` lines are comments.
    """
    out: dict[str, str] = {}
    if not EQUIVALENT.exists():
        return out
    key = None
    for raw in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw.startswith(" ") and key is not None:
            out[key] = raw.strip().removeprefix("because:").strip()
            key = None
        else:
            key = raw.strip()
            out[key] = ""
    return out


def sample(module: str, seed: int, count: int) -> list[Mutant]:
    """``count`` distinct mutants of ``module``, the same for the same seed and source."""
    source = (ROOT / PACKAGE / module).read_text(encoding="utf-8")
    rng = random.Random(seed * 1_000_003 + zlib.crc32(module.encode()))
    by_op: dict[str, list[Mutant]] = {}
    for m in _sites(source, module):
        by_op.setdefault(m.op, []).append(m)
    for group in by_op.values():
        rng.shuffle(group)
    # operators in turn, so that the many sums and products do not crowd out the rarer
    # kinds (ceil/floor, comparisons, swapped names)
    order = sorted(by_op)
    rng.shuffle(order)
    picked: list[Mutant] = []
    while len(picked) < count and any(by_op.values()):
        for op in order:
            if by_op[op] and len(picked) < count:
                picked.append(by_op[op].pop())
    return sorted(picked, key=lambda m: (m.line, m.index, m.op))


def _workspace(tmp: Path) -> None:
    """A copy of the package in ``tmp`` beside links to the data it reads."""
    shutil.copytree(
        ROOT / PACKAGE, tmp / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for data in ("configs", "experiments", "schemas"):
        if (ROOT / data).exists():
            os.symlink(ROOT / data, tmp / data)


def run(mutant: Mutant, tmp: Path, timeout: float) -> str:
    """ "killed", "timeout" or "survived" after running the module's tests on the mutant."""
    path = tmp / PACKAGE / mutant.module
    original = (ROOT / PACKAGE / mutant.module).read_text(encoding="utf-8")
    path.write_text(apply(original, mutant), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    tests = [str(ROOT / "tests" / t) for t in MODULES[mutant.module]]
    tests = [t for t in tests if Path(t).exists()]
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            cmd, cwd=tmp, env=env, timeout=timeout, capture_output=True, check=False
        )
        verdict = "survived" if done.returncode == 0 else "killed"
        if done.returncode not in (0, 1):  # collection or usage error: say so
            verdict = "killed"
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    finally:
        path.write_text(original, encoding="utf-8")
    return verdict


def _check_isolation(tmp: Path) -> None:
    """The tests must import the copy, not the checkout."""
    env = {**os.environ, "PYTHONPATH": str(tmp)}
    code = f"import {PACKAGE}; print({PACKAGE}.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True, check=True
    ).stdout
    if not out.startswith(str(tmp)):
        sys.exit(f"mutants would not be tested: {PACKAGE} is imported from {out.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-module", type=int, default=20, help="mutants sampled per module")
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="repeatable")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant")
    parser.add_argument("--list", action="store_true", help="print the sample, run nothing")
    parser.add_argument(
        "--check-equivalent", action="store_true", help="run the mutants listed as equivalent too"
    )
    args = parser.parse_args(argv)
    # a terminated run still removes its temporary copy (the finally of the with below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    equivalent = load_equivalent()
    modules = args.module or list(MODULES)
    summary: list[tuple[str, int, int, int]] = []
    survivors: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as name:
        tmp = Path(name)
        _workspace(tmp)
        _check_isolation(tmp)
        for module in modules:
            mutants = sample(module, args.seed, args.per_module)
            killed = equiv = 0
            started = time.monotonic()
            for m in mutants:
                known = m.key in equivalent
                if args.list or (known and not args.check_equivalent):
                    verdict = "equivalent" if known else "listed"
                else:
                    verdict = run(m, tmp, args.timeout)
                    if known and verdict == "survived":
                        verdict = "equivalent"
                killed += verdict in ("killed", "timeout")
                equiv += verdict == "equivalent"
                if verdict == "survived":
                    survivors.append(m)
                print(f"  {verdict:10} {m.module}:{m.line} [{m.op}] {m.where}: {m.text}")
                sys.stdout.flush()
            counted = len(mutants) - equiv
            rate = 100.0 * killed / counted if counted else 100.0
            took = time.monotonic() - started
            print(
                f"{module}: {killed}/{counted} killed ({rate:.0f}%), {equiv} equivalent, "
                f"{took:.0f} s"
            )
            summary.append((module, killed, counted, equiv))
    if args.list:
        return 0
    print(f"\nseed {args.seed}, {args.per_module} mutants per module")
    for module, killed, counted, equiv in summary:
        rate = 100.0 * killed / counted if counted else 100.0
        print(f"  {module:28} {killed:3}/{counted:<3} killed {rate:5.1f}%  ({equiv} equivalent)")
    if survivors:
        print("survivors (file:line [operator] key):")
        for m in survivors:
            print(f"  {PACKAGE}/{m.module}:{m.line} [{m.op}] {m.key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Mutation testing of the modules that carry hashcore's matching and safety rules.

Each *mutant* is one small change to one target module (``<`` becomes ``<=``, ``and`` becomes
``or``, a ``not`` is dropped, a constant moves by one, a bare call is skipped, ...). A mutant
is *killed* when the module's targeted tests fail with it in place, and *survives* when they
still pass: a survivor is either a rule no test pins down or an equivalent change.

Mutants are applied only inside private copies of the tree (under ``--workdir``), never in the
working tree. The copies are imported through ``PYTHONPATH`` ahead of the venv's editable
installs; :func:`check_imports` proves, before any mutant runs, that every target module and
every entry-point plugin resolves into the copy.

Usage (``make mutate`` runs the first)::

    python tools/mutate.py                        # every target, report in .mutate/report.md
    python tools/mutate.py --module server/       # targets whose path contains "server/"
    python tools/mutate.py --list                 # the mutants only, nothing run
    python tools/mutate.py --jobs 2 --max-mutants 20

The operators, the targets and their tests are the tables below; docs/testing.md has the
last result and the survivors explained.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import fnmatch
import glob
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# -- targets ---------------------------------------------------------------------------------

# Each list starts with the fast unit-level guards (tests/test_guard_*.py): with ``-x`` most
# mutants die there within a second, and only survivors pay for the slower end-to-end tests.
SERVER_TESTS = (
    "tests/test_guard_server.py",
    "tests/test_guard_server_thresholds.py",
    "tests/test_server_auth.py",
    "tests/test_server_api.py",
    "tests/test_server_batching.py",
    "tests/test_server_errors.py",
)
FORMAT_TESTS = (
    "tests/test_guard_formats.py",
    "tests/test_formats_engine.py",
    "tests/test_import_catch_up.py",
    "tests/test_formats_parse.py",
    "tests/test_formats_fetch.py",
)
INDEX_TESTS = ("tests/test_guard_index.py", "tests/test_index_exact.py")
HAMMING_TESTS = ("tests/test_guard_index.py", "tests/test_index_hamming.py")

FAST_FORMATS = ("-k", "not never_crash")
"""The parsers' fuzzing tests (seconds each) only ever catch crashes, which others catch too."""

STATUS = ("EntryStatus", "Checkpoint", "delete", "withdraw", "sort")
"""A parser's rules are its status mapping and its ordering; the rest is field plumbing."""

DEADLINES_AND_GRANTS = (
    "check_deadline",
    "cpu_slot",
    "_scope",
    "require(",
    ".can(",
    "loosen",
    "Exceeded",
)
"""The servicer's rules: deadline checks, grant confinement, batch limits (not its plumbing)."""

IMPORT_RULES = ("deleted", "checkpoint", "status", "pending", "strict", "problem")
"""The importer's rules: counting deletions, committing checkpoints with their batch, errors."""

INDEX_RULES = ("threshold", "limit", "dead", "tombstone", "remove", "delta", "_rebuild", "add")
"""Where a Hamming index applies its threshold and its tombstones (not the probe planner)."""

NO_INT = frozenset({"int"})


@dataclass(frozen=True)
class Target:
    """A module to mutate and the tests that must catch its mutants."""

    path: str
    tests: tuple[str, ...]
    skip_operators: frozenset[str] = frozenset()
    pytest_args: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()
    """If set, only top-level statements and methods whose text names one of these words."""


def _format(path: str, *extra: str, focus: tuple[str, ...] = STATUS) -> Target:
    return Target(path, (*FORMAT_TESTS, *extra), pytest_args=FAST_FORMATS, focus=focus)


# hashcore/index/base.py is left out: an abstract interface, no statement to mutate.
TARGETS: tuple[Target, ...] = (
    Target("server/hashcore_server/auth.py", SERVER_TESTS),
    Target("server/hashcore_server/calls.py", SERVER_TESTS),
    Target("server/hashcore_server/thresholds.py", SERVER_TESTS),
    Target("server/hashcore_server/matching.py", SERVER_TESTS, focus=DEADLINES_AND_GRANTS),
    Target(
        "plugins/pdq/hashcore_pdq/plugin.py",
        ("tests/test_guard_thresholds.py", "plugins/pdq/tests", "tests/test_engine.py"),
    ),
    Target(
        "hashcore/signals.py",
        (
            "tests/test_guard_thresholds.py",
            "tests/test_guard_variants.py",
            "tests/test_match_confidence.py",
            "tests/test_plugins.py",
            "tests/test_plugin_surface.py",
            "plugins/pdq/tests",
            "plugins/phash/tests",
            "plugins/md5/tests",
        ),
    ),
    Target(
        "hashcore/matching.py",
        (
            "tests/test_guard_thresholds.py",
            "tests/test_match_confidence.py",
            "tests/test_engine.py",
        ),
    ),
    _format("hashcore/formats/records.py", focus=()),
    _format("hashcore/formats/importer.py", focus=IMPORT_RULES),
    _format("hashcore/formats/csvmap.py"),
    _format("hashcore/formats/ncmec.py"),
    _format("hashcore/formats/stopncii.py"),
    _format("hashcore/formats/threatexchange.py"),
    _format("hashcore/formats/pytx.py"),
    _format("hashcore/formats/tat.py"),
    _format("hashcore/formats/native.py"),
    _format("hashcore/formats/export.py", "tests/test_cli_bank_lookup.py"),
    Target("hashcore/index/exact.py", INDEX_TESTS, skip_operators=NO_INT),
    Target(
        "hashcore/index/factory.py",
        ("tests/test_guard_index.py", "tests/test_engine_restart.py", "tests/test_engine.py"),
    ),
    # Integer constants of the indexes are bit layouts, buffer sizes and cost estimates, not
    # rules (the brute-force equality tests cover their correctness); the Hamming index is
    # mutated where it handles thresholds, tombstones and the delta, not in its planner. A
    # kernel mutant recompiles it (about ten seconds).
    Target("hashcore/index/hamming.py", HAMMING_TESTS, skip_operators=NO_INT, focus=INDEX_RULES),
    Target("hashcore/index/mih_kernel.py", HAMMING_TESTS, skip_operators=NO_INT),
)

# -- mutants ---------------------------------------------------------------------------------

OPERATORS = ("compare", "boolop", "not", "int", "bool", "minmax", "call", "jump")
"""Every operator name, as reports and ``Target.skip_operators`` spell them."""

_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], str]] = {
    ast.Lt: (ast.LtE, "<="),
    ast.LtE: (ast.Lt, "<"),
    ast.Gt: (ast.GtE, ">="),
    ast.GtE: (ast.Gt, ">"),
    ast.Eq: (ast.NotEq, "!="),
    ast.NotEq: (ast.Eq, "=="),
    ast.Is: (ast.IsNot, "is not"),
    ast.IsNot: (ast.Is, "is"),
    ast.In: (ast.NotIn, "not in"),
    ast.NotIn: (ast.In, "in"),
}
_OP_TOKEN = re.compile(r"<=|>=|==|!=|<|>|\bis\s+not\b|\bnot\s+in\b|\bis\b|\bin\b")
_BOOL_TOKEN = re.compile(r"\band\b|\bor\b")

LOG_NAMES = frozenset({"log", "logger", "logging", "warnings"})
"""Calls on these names are diagnostics, not rules: never mutated, never removed."""
SKIP_FUNCTIONS = frozenset({"__repr__", "__str__"})
SKIP_KEYWORDS = frozenset(
    {"strict", "slots", "frozen", "kw_only", "exist_ok", "parents", "nogil", "cache"}
    | {"ensure_ascii", "sort_keys", "separators", "stacklevel", "kind", "return_index"}
)
"""Keyword arguments whose values only tune a library call (``zip(strict=True)`` and such)."""
NUMPY_NAMES = frozenset({"np", "numpy"})
"""Integer arguments of numpy calls are sizes and shapes: not mutated."""
PRAGMA = "pragma: no mutate"


@dataclass(frozen=True)
class Mutant:
    """One change to one file: ``source[start:end]`` becomes ``replacement``."""

    path: str
    line: int
    operator: str
    start: int
    end: int
    replacement: str
    original: str
    """The first changed line before the change (stripped)."""
    mutated: str
    """The same line after it (stripped)."""

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.operator}:{self.start}:{self.replacement}"

    def apply(self, source: str) -> str:
        return source[: self.start] + self.replacement + source[self.end :]


class _Offsets:
    """Character offsets of ``ast`` positions (whose columns count UTF-8 bytes)."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode())

    def start(self, node: ast.AST) -> int:
        return self.at(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.at(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]


class _Collector(ast.NodeVisitor):
    """Walks a module and records ``(operator, start, end, replacement)`` edits."""

    def __init__(
        self, source: str, skip_operators: Iterable[str], focus: Sequence[str] = ()
    ) -> None:
        self.source = source
        self.focus = tuple(word.lower() for word in focus)
        self.offsets = _Offsets(source)
        self.skip = frozenset(skip_operators)
        self.edits: list[tuple[str, int, int, str]] = []
        self.pragma_lines = {n for n, text in enumerate(source.splitlines(), 1) if PRAGMA in text}
        self._no_int = 0  # > 0 inside indices and array shapes
        self._both_ways = 0  # > 0 in module and class constants: n - 1 as well as n + 1

    def _add(self, operator: str, start: int, end: int, replacement: str) -> None:
        if operator not in self.skip:
            self.edits.append((operator, start, end, replacement))

    def _token(self, pattern: re.Pattern[str], left: ast.AST, right: ast.AST) -> re.Match[str]:
        """The operator token between two operands (comments and brackets skipped)."""
        lo, hi = self.offsets.end(left), self.offsets.start(right)
        gap = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), self.source[lo:hi])
        found = pattern.search(gap)
        if found is None:  # pragma: no cover - the grammar puts one there
            raise ValueError(f"no operator between offsets {lo} and {hi}")
        return _Shifted(found, lo)  # type: ignore[return-value]

    # -- skipped regions ---------------------------------------------------------------------

    def generic_visit(self, node: ast.AST) -> None:
        if getattr(node, "lineno", None) in self.pragma_lines:
            return
        super().generic_visit(node)

    def _in_focus(self, node: ast.stmt) -> bool:
        if not self.focus:
            return True
        text = (ast.get_source_segment(self.source, node) or "").lower()
        return any(word in text for word in self.focus)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """f-strings are messages."""

    def visit_Raise(self, node: ast.Raise) -> None:
        """An exception's arguments are its message; whether it is raised is the guard's test."""

    def visit_Assert(self, node: ast.Assert) -> None:
        """Assertions are the program checking itself, not behaviour."""

    def visit_arg(self, node: ast.arg) -> None:
        """Parameter annotations."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None and node.lineno not in self.pragma_lines:
            self.visit(node.value)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name in SKIP_FUNCTIONS or node.lineno in self.pragma_lines or _is_stub(node):
            return
        self.visit(node.args)  # defaults only: visit_arg skips annotations
        for statement in node.body:
            self.visit(statement)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Module(self, node: ast.Module) -> None:
        self._constants(node.body)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._constants(node.body)  # decorators and bases are declarations

    def _constants(self, body: Sequence[ast.stmt]) -> None:
        """Statements of a module or class body; its assigned numbers move both ways."""
        for statement in body:
            if not isinstance(statement, ast.ClassDef) and not self._in_focus(statement):
                continue
            if _is_rule_constant(statement):
                self._both_ways += 1
                try:
                    self.visit(statement)
                finally:
                    self._both_ways -= 1
            else:
                self.visit(statement)

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    @contextlib.contextmanager
    def _without_ints(self) -> Iterator[None]:
        self._no_int += 1
        try:
            yield
        finally:
            self._no_int -= 1

    def visit_Subscript(self, node: ast.Subscript) -> None:
        """Indices and slices (``shape[0]``, ``ids[1:]``) are plumbing: kept off ``int``."""
        self.visit(node.value)
        with self._without_ints():
            self.visit(node.slice)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg not in SKIP_KEYWORDS:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in LOG_NAMES
        ):
            return
        if isinstance(func, ast.Name) and func.id in ("min", "max") and node.args:
            other = "max" if func.id == "min" else "min"
            self._add("minmax", self.offsets.start(func), self.offsets.end(func), other)
        if isinstance(func, ast.Attribute) and _root_name(func) in NUMPY_NAMES:
            with self._without_ints():  # array sizes, shapes and dtypes' widths
                self.generic_visit(node)
        else:
            self.generic_visit(node)

    # -- operators ---------------------------------------------------------------------------

    def visit_Expr(self, node: ast.Expr) -> None:
        if node.lineno in self.pragma_lines:
            return
        call = node.value
        if isinstance(call, ast.Await):
            call = call.value
        if isinstance(call, ast.Call):
            func = call.func
            logged = (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in LOG_NAMES
            )
            if not logged:
                self._add("call", self.offsets.start(node), self.offsets.end(node), "pass")
        self.generic_visit(node)

    def visit_Continue(self, node: ast.Continue) -> None:
        self._add("jump", self.offsets.start(node), self.offsets.end(node), "pass")

    def visit_Break(self, node: ast.Break) -> None:
        self._add("jump", self.offsets.start(node), self.offsets.end(node), "pass")

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            _, text = _SWAPS[type(op)]
            token = self._token(_OP_TOKEN, operands[index], operands[index + 1])
            self._add("compare", token.start(), token.end(), text)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = "or" if isinstance(node.op, ast.And) else "and"
        for left, right in zip(node.values, node.values[1:], strict=False):
            token = self._token(_BOOL_TOKEN, left, right)
            self._add("boolop", token.start(), token.end(), other)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            operand = self.source[self.offsets.start(node.operand) : self.offsets.end(node.operand)]
            self._add("not", self.offsets.start(node), self.offsets.end(node), operand)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        start, end = self.offsets.start(node), self.offsets.end(node)
        if isinstance(node.value, bool):
            self._add("bool", start, end, str(not node.value))
        elif isinstance(node.value, int) and not self._no_int:
            self._add("int", start, end, str(node.value + 1))
            if self._both_ways:
                self._add("int", start, end, str(node.value - 1))


def _is_rule_constant(statement: ast.stmt) -> bool:
    """``LIMIT = 50``, ``threshold: ClassVar[float] = 31``, ``_RANK = {...}``: both ways."""
    if isinstance(statement, ast.AnnAssign):
        if "ClassVar" in ast.unparse(statement.annotation):
            return True
        targets: list[ast.expr] = [statement.target]
    elif isinstance(statement, ast.Assign):
        targets = statement.targets
        if isinstance(statement.value, ast.Dict):
            return True
    else:
        return False
    return any(isinstance(t, ast.Name) and t.id.lstrip("_").isupper() for t in targets)


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A protocol or abstract stub (``...`` or a docstring only): its defaults mean nothing."""
    body = node.body
    return all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body) or any(
        isinstance(d, ast.Name | ast.Attribute) and ast.unparse(d).endswith("abstractmethod")
        for d in node.decorator_list
    )


def _root_name(node: ast.expr) -> str | None:
    """``np`` for ``np.random.default_rng``: the name an attribute chain starts from."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Shifted:
    """A regex match moved by ``offset`` characters (it was found in a slice)."""

    def __init__(self, match: re.Match[str], offset: int) -> None:
        self._match, self._offset = match, offset

    def start(self) -> int:
        return self._match.start() + self._offset

    def end(self) -> int:
        return self._match.end() + self._offset


def mutants_of(
    source: str, path: str, skip_operators: Iterable[str] = (), focus: Sequence[str] = ()
) -> list[Mutant]:
    """Every mutant of ``source``, in file order; each parses and differs from the original."""
    tree = ast.parse(source)
    collector = _Collector(source, skip_operators, focus)
    collector.visit(tree)
    original_dump = ast.dump(tree)
    lines = source.splitlines()
    seen: set[str] = set()
    out: list[Mutant] = []
    for operator, start, end, replacement in sorted(collector.edits, key=lambda e: e[1:]):
        mutated = source[:start] + replacement + source[end:]
        if mutated in seen:
            continue
        try:
            if ast.dump(ast.parse(mutated)) == original_dump:
                continue
        except SyntaxError:
            continue
        seen.add(mutated)
        line = source.count("\n", 0, start) + 1
        mutated_lines = mutated.splitlines()
        out.append(
            Mutant(
                path=path,
                line=line,
                operator=operator,
                start=start,
                end=end,
                replacement=replacement,
                original=lines[line - 1].strip(),
                mutated=mutated_lines[line - 1].strip(),
            )
        )
    return out


# -- copies of the tree ----------------------------------------------------------------------

_ROOT_ONLY = frozenset({".venv", ".git", ".mutate", "var", "build", "dist", ".benchmarks"})
_ANYWHERE = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis")


def _ignore(root: Path) -> object:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if any(fnmatch.fnmatch(n, p) for p in _ANYWHERE)}
        if Path(directory) == root:
            skipped |= _ROOT_ONLY & set(names)
        return skipped

    return ignore


def import_roots(copy: Path) -> list[Path]:
    """Where the copy's packages live: the root, ``server/`` and each plugin distribution."""
    plugins = sorted(p.parent for p in (copy / "plugins").glob("*/pyproject.toml"))
    return [copy, copy / "server", *plugins]


def module_name(copy: Path, path: str) -> str:
    """``plugins/pdq/hashcore_pdq/plugin.py`` -> ``hashcore_pdq.plugin``, via import_roots."""
    full = copy / path
    for root in sorted(import_roots(copy), key=lambda r: len(r.parts), reverse=True):
        if full.is_relative_to(root):
            parts = full.relative_to(root).with_suffix("").parts
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(f"{path} is under no import root")


@dataclass
class Copy:
    """One private copy of the tree, used by one mutant at a time."""

    root: Path
    env: dict[str, str]


def tree_files(repo: Path) -> list[str] | None:
    """The working tree's files as git sees them (tracked or new, not ignored), or None.

    Read-only (``git ls-files``); it keeps large ignored directories (benchmark corpora,
    stores) out of the copies.
    """
    if not (repo / ".git").exists():
        return None
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return [name for name in done.stdout.decode().split("\0") if name]


def make_copy(repo: Path, dest: Path, files: list[str] | None = None) -> Copy:
    """A copy of ``repo`` at ``dest``: ``files`` if given, else the tree minus caches."""
    if dest.exists():
        shutil.rmtree(dest)
    if files is None:
        shutil.copytree(repo, dest, ignore=_ignore(repo), symlinks=True)  # type: ignore[arg-type]
    else:
        for name in files:
            source = repo / name
            if source.is_file():  # a tracked file may be deleted in the working tree
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in import_roots(dest))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a same-size mutant must never meet a stale .pyc
    env["NUMBA_CACHE_DIR"] = str(dest / ".numba-cache")
    shared = repo.parent / "shared" / "data"
    if shared.is_dir():
        env.setdefault("HASHCORE_SHARED_DATA", str(shared))
    env.pop("PYTEST_ADDOPTS", None)
    return Copy(dest, env)


CHECK_SCRIPT = """
import importlib, json, sys
from hashcore.registry import load_registry
files = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
registry = load_registry()
for name in registry.names():
    module = type(registry.get(name)).__module__
    files[module] = sys.modules[module].__file__
print(json.dumps(files))
"""


def check_imports(copy: Copy, python: str, targets: Sequence[Target]) -> dict[str, str]:
    """Prove that every target module and every loaded plugin is imported from the copy."""
    names = sorted({module_name(copy.root, t.path) for t in targets})
    done = subprocess.run(
        [python, "-c", CHECK_SCRIPT, *names],
        cwd=copy.root,
        env=copy.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"import check failed in {copy.root}:\n{done.stderr}")
    files: dict[str, str] = json.loads(done.stdout)
    outside = {m: f for m, f in files.items() if not Path(f).resolve().is_relative_to(copy.root)}
    if outside:
        raise SystemExit(f"modules resolve outside the copy {copy.root}: {outside}")
    return files


# -- running ---------------------------------------------------------------------------------


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed, survived, timeout
    seconds: float


@dataclass
class ModuleSummary:
    path: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    baseline: float = 0.0
    planned: int = 0
    error: str = ""
    deselected: list[str] = field(default_factory=list)
    """Tests that failed before any mutant (work in progress elsewhere), left out."""
    survivors: list[Mutant] = field(default_factory=list)


def test_args(copy: Path, target: Target) -> list[str]:
    """The target's test paths present in the copy (globs expanded, missing ones dropped)."""
    args: list[str] = []
    for pattern in target.tests:
        matches = sorted(glob.glob(str(copy / pattern)))
        args.extend(str(Path(m).relative_to(copy)) for m in matches)
    return [*target.pytest_args, *args]


def failing_tests(python: str, copy: Copy, tests: Sequence[str]) -> list[str]:
    """Node ids of the tests that fail in the unmutated copy (another change in progress)."""
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *tests],
        cwd=copy.root,
        env=copy.env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    return sorted(set(found))


def run_tests(
    python: str, copy: Copy, tests: Sequence[str], timeout: float | None, env: dict[str, str]
) -> tuple[str, float]:
    """``killed``/``survived``/``timeout`` and the seconds taken (the process group is ours)."""
    command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=copy.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout", time.monotonic() - started
    return ("survived" if code == 0 else "killed"), time.monotonic() - started


@contextlib.contextmanager
def applied(copy: Copy, mutant: Mutant) -> Iterator[dict[str, str]]:
    """The mutant written into ``copy``; the file (content and mtime) restored afterwards."""
    path = copy.root / mutant.path
    original = path.read_bytes()
    stat = path.stat()
    env = dict(copy.env)
    scratch = None
    if b"cache=True" in original:  # numba would overwrite the good cache with the mutant's
        scratch = tempfile.mkdtemp(prefix="numba-", dir=copy.root)
        env["NUMBA_CACHE_DIR"] = scratch
    path.write_text(mutant.apply(original.decode()), encoding="utf-8")
    try:
        yield env
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    targets = select(args.module)
    plans = {
        t.path: mutants_of((REPO / t.path).read_text(), t.path, t.skip_operators, t.focus)
        for t in targets
    }
    if args.only:
        plans = {
            p: [m for m in ms if any(o in m.key for o in args.only)] for p, ms in plans.items()
        }
    if args.max_mutants:
        plans = {p: m[: args.max_mutants] for p, m in plans.items()}
    if args.list:
        for path, mutants in plans.items():
            print(f"## {path}: {len(mutants)} mutants")
            for m in mutants:
                print(f"{m.path}:{m.line} [{m.operator}] {m.original}  ->  {m.mutated}")
        print(f"total: {sum(len(m) for m in plans.values())}")
        return 0

    started = time.monotonic()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    shared = REPO.parent / "shared"
    link = workdir / "shared"  # tests find ../shared beside the tree, as in CI
    if shared.is_dir() and not link.exists():
        link.symlink_to(shared)
    print(f"copying {REPO} into {args.jobs} tree(s) under {workdir}", flush=True)
    files = tree_files(REPO)
    copies = [make_copy(REPO, workdir / f"tree{n}", files) for n in range(args.jobs)]
    resolved = check_imports(copies[0], args.python, targets)
    print(f"import check: {len(resolved)} modules resolve into the copy", flush=True)

    summaries = {t.path: ModuleSummary(t.path) for t in targets}
    baselines(args.python, copies, targets, summaries)
    pool: queue.Queue[Copy] = queue.Queue()
    for copy in copies:
        pool.put(copy)
    lock = threading.Lock()
    work = [(t, m) for t in targets if not summaries[t.path].error for m in plans[t.path]]
    total = len(work)
    done = 0

    stop = threading.Event()  # SIGTERM or --minutes: finish the running mutants, report
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    if args.minutes:
        timer = threading.Timer(args.minutes * 60, stop.set)
        timer.daemon = True
        timer.start()
    for target in targets:
        summaries[target.path].planned = len(plans[target.path])

    def one(target: Target, mutant: Mutant) -> Result | None:
        if stop.is_set():
            return None
        copy = pool.get()
        try:
            summary = summaries[target.path]
            tests = test_args(copy.root, target)
            tests += [arg for node in summary.deselected for arg in ("--deselect", node)]
            timeout = max(3 * summary.baseline, summary.baseline + 20)
            with applied(copy, mutant) as env:
                status, seconds = run_tests(args.python, copy, tests, timeout, env)
            return Result(mutant, status, seconds)
        finally:
            pool.put(copy)

    results: list[Result] = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as executor:
        futures = [executor.submit(one, t, m) for t, m in work]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            if result is None:
                continue
            with lock:
                done += 1
                results.append(result)
                summary = summaries[result.mutant.path]
                summary.mutants += 1
                setattr(summary, result.status, getattr(summary, result.status) + 1)
                if result.status == "survived":
                    summary.survivors.append(result.mutant)
                    m = result.mutant
                    print(
                        f"[{done}/{total}] SURVIVED {m.path}:{m.line} [{m.operator}] "
                        f"{m.original} -> {m.mutated}",
                        flush=True,
                    )
                elif done % 25 == 0:
                    print(f"[{done}/{total}] {time.monotonic() - started:.0f}s", flush=True)
    elapsed = time.monotonic() - started
    if stop.is_set():
        print("stopped early: the report counts the mutants that ran", flush=True)
    write_report(Path(args.report), list(summaries.values()), results, elapsed, args)
    print(summary_table(list(summaries.values())))
    print(f"{total} mutants in {elapsed / 60:.1f} min; report: {args.report}")
    if not args.keep:
        for copy in copies:
            shutil.rmtree(copy.root, ignore_errors=True)
    return 0


def baselines(
    python: str,
    copies: Sequence[Copy],
    targets: Sequence[Target],
    summaries: dict[str, ModuleSummary],
) -> None:
    """Run each target's tests unmutated: they must pass, and their time sets the timeout."""
    pool: queue.Queue[Copy] = queue.Queue()
    for copy in copies:
        pool.put(copy)

    by_tests: dict[tuple[str, ...], list[Target]] = {}
    for target in targets:  # one run per distinct test selection
        by_tests.setdefault((*target.pytest_args, *target.tests), []).append(target)

    def one(group: list[Target]) -> None:
        copy = pool.get()
        deselected: list[str] = []
        try:
            tests = test_args(copy.root, group[0])
            status, seconds = run_tests(python, copy, tests, None, copy.env)
            if status != "survived":  # leave out what already fails, if that is all
                deselected = failing_tests(python, copy, tests)
                more = [arg for node in deselected for arg in ("--deselect", node)]
                status, seconds = run_tests(python, copy, [*tests, *more], None, copy.env)
        finally:
            pool.put(copy)
        for target in group:
            record(target, status, seconds, deselected)

    def record(target: Target, status: str, seconds: float, deselected: list[str]) -> None:
        summary = summaries[target.path]
        summary.baseline = seconds
        summary.deselected = deselected
        if status != "survived":
            summary.error = "tests fail without any mutant"
        note = f"; deselected (failing before mutation): {deselected}" if deselected else ""
        print(f"baseline {target.path}: {seconds:.1f}s {summary.error}{note}", flush=True)

    with concurrent.futures.ThreadPoolExecutor(len(copies)) as executor:
        list(executor.map(one, by_tests.values()))


def select(patterns: Sequence[str] | None) -> list[Target]:
    if not patterns:
        return list(TARGETS)
    chosen = [t for t in TARGETS if any(p in t.path for p in patterns)]
    if not chosen:
        raise SystemExit(f"no target matches {patterns}; targets: {[t.path for t in TARGETS]}")
    return chosen


# -- reports ---------------------------------------------------------------------------------


def summary_table(summaries: Sequence[ModuleSummary]) -> str:
    rows = [
        "| module | mutants | killed | timeout | survived |",
        "|---|---:|---:|---:|---:|",
    ]
    totals = [0, 0, 0, 0]
    for s in summaries:
        if s.error:
            rows.append(f"| `{s.path}` | - | - | - | {s.error} |")
            continue
        ran = f"{s.mutants}" if s.mutants >= s.planned else f"{s.mutants} of {s.planned}"
        rows.append(f"| `{s.path}` | {ran} | {s.killed} | {s.timeout} | {s.survived} |")
        for i, n in enumerate((s.mutants, s.killed, s.timeout, s.survived)):
            totals[i] += n
    rows.append(f"| **total** | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} |")
    return "\n".join(rows)


def write_report(
    path: Path,
    summaries: Sequence[ModuleSummary],
    results: Sequence[Result],
    elapsed: float,
    args: argparse.Namespace,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "# Mutation run",
        "",
        f"{when}; {elapsed / 60:.1f} min; jobs {args.jobs}; {os.cpu_count()} cores; "
        f"command: `{' '.join(['python', 'tools/mutate.py', *sys.argv[1:]])}`",
        "",
        summary_table(summaries),
        "",
        "## Survivors",
        "",
    ]
    for s in summaries:
        if s.deselected:
            lines[-2:-2] = [f"`{s.path}`: left out, failing before any mutant: {s.deselected}", ""]
    for s in summaries:
        for m in sorted(s.survivors, key=lambda m: (m.line, m.start)):
            lines.append(f"- `{m.path}:{m.line}` [{m.operator}] `{m.original}` -> `{m.mutated}`")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {
        "date": when,
        "minutes": round(elapsed / 60, 1),
        "modules": [
            {k: v for k, v in asdict(s).items() if k != "survivors"}
            | {"survivors": [asdict(m) for m in s.survivors]}
            for s in summaries
        ],
        "results": [
            {"key": r.mutant.key, "status": r.status, "seconds": round(r.seconds, 2)}
            for r in results
        ],
    }
    path.with_suffix(".json").write_text(json.dumps(data, indent=1), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module", action="append", help="only targets whose path contains this (repeatable)"
    )
    parser.add_argument("--max-mutants", type=int, default=0, help="at most N per module")
    parser.add_argument(
        "--only", action="append", help="only mutants whose key (path:line:...) contains this"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--python", default=sys.executable, help="interpreter with the deps")
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / f"hashcore-mutate-{os.getuid()}")
    )
    parser.add_argument("--report", default=str(REPO / ".mutate" / "report.md"))
    parser.add_argument("--keep", action="store_true", help="keep the copies afterwards")
    parser.add_argument(
        "--minutes", type=float, default=0, help="stop starting mutants after this long, report"
    )
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

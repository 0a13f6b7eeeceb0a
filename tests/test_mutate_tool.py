"""The mutation tool's own logic (tools/mutate.py): which mutants a snippet gives, and restores.

The mutation run itself is slow and not part of the suite (``make mutate``); these tests only
pin down the operators, the skipped regions and the copy handling it relies on.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hashcore_mutate_tool", REPO / "tools/mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mutate = _load()


def mutated_lines(source: str, skip: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    source = textwrap.dedent(source)
    return {(m.operator, m.mutated) for m in mutate.mutants_of(source, "x.py", skip)}


def test_comparisons_move_their_boundary_or_flip() -> None:
    got = mutated_lines("def f(a, b):\n    return a < b or a >= b or a == b or a is not b\n")
    assert ("compare", "return a <= b or a >= b or a == b or a is not b") in got
    assert ("compare", "return a < b or a > b or a == b or a is not b") in got
    assert ("compare", "return a < b or a >= b or a != b or a is not b") in got
    assert ("compare", "return a < b or a >= b or a == b or a is b") in got


def test_chained_and_membership_comparisons() -> None:
    got = mutated_lines("def f(a, b, c):\n    return a <= b < c and a not in c\n")
    assert ("compare", "return a < b < c and a not in c") in got
    assert ("compare", "return a <= b <= c and a not in c") in got
    assert ("compare", "return a <= b < c and a in c") in got


def test_boolean_operators_not_and_constants() -> None:
    got = mutated_lines("def f(a, b):\n    return not a and b\n")
    assert got == {("boolop", "return not a or b"), ("not", "return a and b")}
    got = mutated_lines("def f(a):\n    a.flag = True\n    return a + 3\n")
    assert got == {("bool", "a.flag = False"), ("int", "return a + 4")}


def test_rule_constants_move_both_ways() -> None:
    source = """
        LIMIT = 50
        RANK = {"a": 1}

        class Kind:
            threshold: ClassVar[float] = 31
            count: int = 0
    """
    got = mutated_lines(source)
    assert {m for _, m in got} == {
        "LIMIT = 51",
        "LIMIT = 49",
        'RANK = {"a": 2}',
        'RANK = {"a": 0}',
        "threshold: ClassVar[float] = 32",
        "threshold: ClassVar[float] = 30",
        "count: int = 1",
    }


def test_statements_calls_jumps_and_min_max() -> None:
    source = """
        def f(call, items):
            for item in items:
                if item:
                    continue
                call.check_deadline()
            return max(items)
    """
    got = mutated_lines(source)
    assert ("call", "pass") in got
    assert ("jump", "pass") in got
    assert ("minmax", "return min(items)") in got
    assert ("not", "if item:") not in got  # only a real ``not`` is removed


def test_messages_annotations_logging_and_repr_are_left_alone() -> None:
    source = '''
        """Docstring 1 < 2."""
        import logging
        log = logging.getLogger("x")

        def f(a: int = 3) -> bool:
            """Returns a < 5."""
            log.warning("count %d", a > 1)
            if a > 7:
                raise ValueError(f"too many: {a + 1}")
            assert a != 9
            return a  # pragma: no mutate
        def __repr__(self) -> str:
            return str(self.x > 1)
    '''
    got = mutated_lines(source)
    assert got == {
        ("int", "def f(a: int = 4) -> bool:"),
        ("compare", "if a >= 7:"),
        ("int", "if a > 8:"),
    }


def test_indices_array_shapes_stubs_and_library_keywords_are_skipped() -> None:
    source = """
        import numpy as np

        class P(Protocol):
            def batch(self, n: int = 5) -> None: ...

        def f(a):
            z = np.zeros((0, 8), np.uint8)
            return a[1:], a.shape[0], zip(a, a, strict=True)
    """
    assert mutated_lines(source) == set()


def test_skipped_operators_and_multi_line_operands() -> None:
    source = """
        def f(a, b):
            return (
                a  # first
                <= b
            )
    """
    assert mutated_lines(source, ("compare",)) == set()
    [mutant] = mutate.mutants_of(textwrap.dedent(source), "x.py")
    assert "< b" in mutant.apply(textwrap.dedent(source))
    assert "<= b" not in mutant.apply(textwrap.dedent(source))


def test_every_mutant_parses_differs_and_is_unique() -> None:
    small = ("hashcore/signals.py", "server/hashcore_server/auth.py")  # the rest: make mutate
    for target in (t for t in mutate.TARGETS if t.path in small):
        source = (REPO / target.path).read_text(encoding="utf-8")
        mutants = mutate.mutants_of(source, target.path, target.skip_operators)
        tree = ast.dump(ast.parse(source))
        texts = [m.apply(source) for m in mutants]
        assert len(set(texts)) == len(texts), target.path
        for text in texts:
            assert ast.dump(ast.parse(text)) != tree
        assert mutants
    for target in mutate.TARGETS:
        assert not target.skip_operators - set(mutate.OPERATORS)


def test_applied_restores_the_file_exactly(tmp_path: Path) -> None:
    path = tmp_path / "pkg" / "m.py"
    path.parent.mkdir()
    source = "def f(a):\n    return a < 1  # é\n"
    path.write_text(source, encoding="utf-8")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    [first, *_] = mutate.mutants_of(source, "pkg/m.py")
    copy = mutate.Copy(tmp_path, {})
    with mutate.applied(copy, first):
        assert path.read_text(encoding="utf-8") == first.apply(source)
    assert path.read_text(encoding="utf-8") == source
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_module_names_and_test_paths_resolve_in_the_copy() -> None:
    assert mutate.module_name(REPO, "hashcore/index/exact.py") == "hashcore.index.exact"
    assert mutate.module_name(REPO, "server/hashcore_server/auth.py") == "hashcore_server.auth"
    assert mutate.module_name(REPO, "plugins/pdq/hashcore_pdq/plugin.py") == "hashcore_pdq.plugin"
    target = mutate.Target("x.py", ("tests/test_mutate_tool.py", "tests/test_nothing_*.py"))
    assert mutate.test_args(REPO, target) == ["tests/test_mutate_tool.py"]
    for target in mutate.TARGETS:
        assert (REPO / target.path).is_file()


def test_selecting_no_target_is_an_error() -> None:
    assert mutate.select(["hashcore_pdq"])[0].path.endswith("plugin.py")
    with pytest.raises(SystemExit):
        mutate.select(["no/such/module"])


def test_copies_hold_the_files_git_sees_and_nothing_ignored(tmp_path: Path) -> None:
    files = mutate.tree_files(REPO)
    if files is None:
        pytest.skip("not a git checkout")
    assert "tools/mutate.py" in files and "hashcore/signals.py" in files
    assert not [f for f in files if f.startswith((".venv/", ".git/")) or "__pycache__" in f]
    copy = mutate.make_copy(REPO, tmp_path / "tree", ["tools/mutate.py", "no/such/file.py"])
    assert (copy.root / "tools/mutate.py").read_bytes() == (REPO / "tools/mutate.py").read_bytes()
    assert not (copy.root / "no").exists()
    roots = copy.env["PYTHONPATH"].split(os.pathsep)
    assert roots[0] == str(copy.root) and copy.env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_summary_table_marks_partial_and_failed_modules() -> None:
    done = mutate.ModuleSummary("a.py", mutants=3, killed=2, survived=1, planned=3)
    partial = mutate.ModuleSummary("b.py", mutants=1, killed=1, planned=4)
    broken = mutate.ModuleSummary("c.py", planned=2, error="tests fail without any mutant")
    table = mutate.summary_table([done, partial, broken])
    assert "| `a.py` | 3 | 2 | 0 | 1 |" in table
    assert "| `b.py` | 1 of 4 | 1 | 0 | 0 |" in table
    assert "| `c.py` | - | - | - | tests fail without any mutant |" in table
    assert "| **total** | 4 | 3 | 0 | 1 |" in table

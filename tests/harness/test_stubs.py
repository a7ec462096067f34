"""One source per solution: exercises/ is exactly what the generator makes of solutions/,
no stub passes a single test, and the reference passes every one."""

import ast
import textwrap

from grader import catalog, layout, stubs
from grader.catalog import ROOT
from tests.harness.conftest import grade


def test_committed_stubs_match_the_generator():
    problems = stubs.drift()
    assert not problems, "run `nox -s stubs` and commit exercises/:\n" + "\n".join(problems)


def test_stub_keeps_signature_and_docstring_and_names_the_kata():
    source = textwrap.dedent('''
        """Module doc."""
        import torch

        SCALE = 2  # kept


        def double(x: torch.Tensor) -> torch.Tensor:
            """Twice x."""
            # a comment that gives the game away
            return x * SCALE


        def _helper():
            return 1


        class Net(torch.nn.Module):
            """A net."""

            size = 3

            def __init__(self):
                super().__init__()

            def forward(self, x):
                """Run it."""
                return x
    ''')
    stub = stubs.stub_source(source, "sprint9.things")
    assert 'raise NotImplementedError("sprint9.things.double")' in stub
    assert stub.count('raise NotImplementedError("sprint9.things.Net")') == 2
    assert '"""Twice x."""' in stub and "SCALE = 2  # kept" in stub and "size = 3" in stub
    assert "def double(x: torch.Tensor) -> torch.Tensor:" in stub
    assert "return x * SCALE" not in stub and "gives the game away" not in stub
    assert "_helper" not in stub
    compile(stub, "stub.py", "exec")


def test_writing_keeps_a_learners_work(tmp_path):
    (tmp_path / "solutions" / "sprint1").mkdir(parents=True)
    (tmp_path / "solutions" / "__init__.py").write_text("")
    (tmp_path / "solutions" / "sprint1" / "__init__.py").write_text("")
    (tmp_path / "solutions" / "sprint1" / "m.py").write_text(
        'def f(x):\n    """Doc."""\n    return x\n'
    )
    assert stubs.write(tmp_path) and stubs.drift(tmp_path) == []
    mine = tmp_path / "exercises" / "sprint1" / "m.py"
    mine.write_text('def f(x):\n    """Doc."""\n    return x + 0\n')
    (tmp_path / "solutions" / "sprint1" / "m.py").write_text(
        'def f(x):\n    """New doc."""\n    return x\n'
    )
    assert any("kept" in line for line in stubs.write(tmp_path))
    assert "x + 0" in mine.read_text()
    stubs.write(tmp_path, force=True)
    assert "New doc." in mine.read_text()


def test_every_kata_of_every_sprint_is_graded_and_the_stubs_pass_nothing():
    report = grade("all", target="exercises")
    wrong = [k for k in report["katas"] if k["status"] != "not_started" or k["passed"]]
    assert not wrong, f"a stub must fail every test, as not_started: {wrong}"
    assert all(k["total"] > 0 for k in report["katas"])


def test_the_reference_passes_every_test():
    report = grade("all", target="solutions")
    wrong = [k for k in report["katas"] if k["status"] != "passed"]
    assert not wrong, wrong
    assert report["score"]["passed"] == report["score"]["total"] > 0


def test_every_kata_has_an_exercise_and_a_test_file():
    for sprint in catalog.sprints():
        for module in catalog.modules(sprint):
            assert layout.module_file("exercises", f"{sprint}.{module}").exists()
            assert (ROOT / layout.harness_file("test", f"{sprint}.{module}")).exists()


STUB = '''
class Net:
    """A net."""

    def __init__(self):
        raise NotImplementedError("sprint9.things.Net")

    def forward(self, x):
        """Run it."""
        raise NotImplementedError("sprint9.things.Net")
'''


def net(source: str) -> ast.ClassDef:
    return ast.parse(textwrap.dedent(source)).body[0]


def test_a_stub_is_told_from_a_kata_begun_and_a_kata_written():
    kid = "sprint9.things.Net"
    assert stubs.stub_state(net(STUB), kid) == "untouched"
    begun = STUB.replace('raise NotImplementedError("sprint9.things.Net")', "self.size = 3", 1)
    assert stubs.stub_state(net(begun), kid) == "unfinished"
    assert stubs.stub_state(net(begun.replace("raise", "return None  #")), kid) == "written"
    before = STUB.replace("        raise", "        x = 1\n        raise", 1)
    assert stubs.stub_state(net(before), kid) == "unfinished", "code before the raise"
    assert stubs.stub_state(net("class Net:\n    size = 3\n"), kid) == "written"
    other = STUB.replace("things.Net", "things.Other")
    assert stubs.stub_state(net(other), kid) == "written", "the raise names another kata"
    assert stubs.is_pristine(STUB, "sprint9.things")
    assert not stubs.is_pristine(begun, "sprint9.things")
    assert not stubs.is_pristine(STUB + "\n\ndef _mine():\n    return 1\n", "sprint9.things")


def test_the_stub_tree_is_unfinished_and_the_reference_finished(monkeypatch):
    """The runs and the benchmarks ask grader.stubs which katas are not written yet."""
    every = [k.id for k in catalog.all_katas()]
    monkeypatch.setenv("KATA_TARGET", "exercises")
    assert stubs.unfinished(every) == every
    monkeypatch.setenv("KATA_TARGET", "solutions")
    assert stubs.unfinished(every) == []
    assert stubs.unfinished(["sprint1.tensors.no_such_kata"]) == ["sprint1.tensors.no_such_kata"]

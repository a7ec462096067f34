"""One source per solution: exercises/ is exactly what the generator makes of solutions/,
no stub passes a single test, and the reference passes every one."""

import textwrap

from grader import catalog, stubs
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
            assert (ROOT / "exercises" / sprint / f"{module}.py").exists()
            assert (ROOT / "tests" / sprint / f"test_{module}.py").exists()

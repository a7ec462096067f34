"""The command line, the scorecard and the JSON report."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader import catalog, cli, layout, new, report, runner
from grader.catalog import ROOT
from tests.harness.conftest import grade, run_sprints_watching_imports


def manifest_entries(sprint: str, root: Path = ROOT) -> list[str]:
    """The kata ids of a sprint's katas.toml, in the order of their tables in the file."""
    text = layout.manifest_file(sprint, root).read_text()
    return [f"{sprint}.{module}.{name}" for module, name in new.ENTRY.findall(text)]


@pytest.mark.parametrize("sprint", catalog.sprints())
def test_the_manifest_lists_exactly_the_catalogs_katas_in_its_order(sprint):
    """The catalog (solutions/: the sprint's MODULES, then each module's file order) is the
    one list of katas; katas.toml has one entry for each, in the same order, and no other."""
    path = layout.manifest_file(sprint).relative_to(ROOT)
    listed = manifest_entries(sprint)
    real = [k.id for k in catalog.katas(sprint)]
    assert not set(real) - set(listed), f"{path} has no entry for {sorted(set(real) - set(listed))}"
    assert not set(listed) - set(real), (
        f"{path} lists katas that do not exist: {sorted(set(listed) - set(real))}"
    )
    assert listed == real, f"{path} lists the katas in another order than the catalog: {real}"
    assert list(catalog.info(sprint).katas) == real, f"{path}: a [module.kata] table is split up"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "say what to grade"),
        (["sprint99"], "no sprint, module or kata called 'sprint99'"),
        (["sprint1", "--target", "answers"], "unknown target 'answers'"),
        (["sprint1.nothing"], "no sprint, module or kata called 'sprint1.nothing'"),
        (["sprint1", "--bogus"], "unrecognized arguments"),
        (["sprint1", "--json", "no/such/folder/out.json"], "the folder no/such/folder does not"),
    ],
)
def test_bad_usage_stops_with_the_usage_line(argv, says):
    with pytest.raises(cli.UsageError) as exc:
        cli.parse(argv)
    assert says in str(exc.value) and "usage: nox -s grade --" in str(exc.value)


def test_bad_usage_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "sprint99"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_selectors_pick_sprints_modules_and_katas():
    assert {k.sprint for k in cli.parse(["all"]).katas} == set(catalog.sprints())
    assert [k.id for k in cli.parse(["sprint1.tensors.split_heads"]).katas] == [
        "sprint1.tensors.split_heads"
    ]
    assert {k.module for k in cli.parse(["sprint1.autograd"]).katas} == {"autograd"}
    assert cli.parse(["sprint1", "--target", "solutions"]).target == "solutions"


def fake_outcome():
    kata_ids = ["sprint1.m.a", "sprint1.m.b", "sprint1.m.c"]
    outcome = runner.Outcome()
    rows = [
        ("t1", "sprint1.m.a", "passed", ""),
        ("t2", "sprint1.m.a", "passed", ""),
        ("t3", "sprint1.m.b", "failed", "value at [0] is 1, expected 2"),
        ("t4", "sprint1.m.b", "passed", ""),
        ("t5", "sprint1.m.c", "not_started", "todo"),
    ]
    for test_id, kata, status, message in rows:
        outcome.tests[test_id] = {"id": test_id, "kata": kata}
        outcome.results[test_id] = runner.TestResult(test_id, kata, status, message)
    katas = [catalog.Kata(k, "sprint1", "m", k.rsplit(".", 1)[1]) for k in kata_ids]
    return report.kata_results(katas, outcome)


def test_scorecard_lists_every_kata_then_the_score_then_the_next_step():
    results = fake_outcome()
    text = report.scorecard("exercises", ["sprint1"], results, colour=False)
    lines = text.splitlines()
    assert "\033[" not in text
    assert any("sprint1.m.a" in ln and "2/2" in ln and "passed" in ln for ln in lines)
    assert any("sprint1.m.b" in ln and "1/2" in ln and "failed" in ln for ln in lines)
    assert any("sprint1.m.c" in ln and "0/1" in ln and "not_started" in ln for ln in lines)
    assert "sprint1: 1/3 katas passed (3/5 tests)" in text
    assert text.index("sprint1: 1/3") < text.index("Next: sprint1.m.b (failed)")
    assert "value at [0] is 1, expected 2" in text
    assert "nox -s hint -- sprint1.m.b" in text and "Hint:" not in text
    coloured = report.scorecard("exercises", ["sprint1"], results, colour=True)
    assert "\033[32m" in coloured


def test_colour_only_on_a_terminal(monkeypatch):
    class Pipe:
        def isatty(self):
            return False

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert not report.use_colour(Pipe()) and report.use_colour(Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not report.use_colour(Terminal())


def test_json_has_the_documented_shape():
    data = json.loads(json.dumps(report.to_json("exercises", ["sprint1"], fake_outcome())))
    assert list(data) == ["version", "target", "sprints", "katas", "score"]
    assert data["version"] == 1
    assert data["score"] == {"passed": 1, "total": 3}
    for entry in data["katas"]:
        assert set(entry) == {"id", "status", "passed", "total", "message"}
        assert entry["status"] in report.STATUSES
    assert set(report.STATUSES) == {"passed", "failed", "not_started", "error", "timeout"}
    assert [k["status"] for k in data["katas"]] == ["passed", "failed", "not_started"]
    assert data["katas"][0]["message"] == ""
    assert data["katas"][1]["message"].startswith("t3: value at [0] is 1")


def test_a_long_message_is_cut_to_the_cap_once():
    """The child caps what it sends, the report caps again after naming the test: one
    note at the end, counting all that was cut."""
    test_id = "TestSplitHeads::test_" + "y" * 60
    outcome = runner.Outcome()
    outcome.tests[test_id] = {"id": test_id, "kata": "sprint1.m.a"}
    sent = layout.cap("x" * 10_000)
    outcome.results[test_id] = runner.TestResult(test_id, "sprint1.m.a", "failed", sent)
    [result] = report.kata_results([catalog.Kata("sprint1.m.a", "sprint1", "m", "a")], outcome)
    whole = f"{test_id.split('::', 1)[1]}: " + "x" * 10_000
    assert len(sent) <= layout.MESSAGE_CAP and len(result.message) <= layout.MESSAGE_CAP
    assert result.message.count("more characters cut") == 1
    kept, note = result.message.rsplit("\n… (", 1)
    assert whole.startswith(kept) and note == f"{len(whole) - len(kept)} more characters cut)"


def test_a_real_run_writes_the_report_and_a_plain_scorecard_when_piped():
    data = grade("sprint1.tensors", target="solutions")
    assert data["target"] == "solutions" and data["sprints"] == ["sprint1"]
    assert all(k["status"] == "passed" for k in data["katas"])
    assert "\033[" not in data["stdout"] and "sprint1: 10/10 katas passed" in data["stdout"]


# module → the sprints whose grading may import it
HEAVY = {
    "torchvision": {"sprint2"},
    "torch._dynamo": set(),
    "transformers": set(),
    "peft": set(),
    "gguf": set(),
    "sympy": set(),
}


def test_grading_imports_neither_torchvision_nor_dynamo():
    """Only Sprint 2 needs torchvision (~3 s more), and there it costs no torch._dynamo
    (torchvision.models and .ops are deferred). torch._dynamo (~3 s, pulled in by
    torchvision or by torch.optim's own step) would double a grading run. Sprint 5's tiny
    GPT-2 comes from transformers (~5 s to import) the first time and from out/cache/ after
    that, and so do Sprint 7's answers of peft (which imports transformers) and of gguf:
    the red/green loop, measured here, imports none of them. Nor sympy (~1 s), which an
    upstream gradient would pull in (grader.deferred).

    Every sprint in one interpreter, Sprint 2 last: an import is caught at the first test
    or test file that makes it, so torchvision, once Sprint 2 has it, could hide nothing."""
    from tests.sprint5.test_gpt import TinyGPT2
    from tests.sprint7.test_lora import PeftAnswers
    from tests.sprint7.test_quantization import GgufQ40

    TinyGPT2.cached(), PeftAnswers.cached(), GgufQ40.cached()  # the first grading run builds them
    order = [s for s in catalog.sprints() if s != "sprint2"] + ["sprint2"]
    result = run_sprints_watching_imports(order, list(HEAVY))
    pulled = {
        name: where
        for name, where in result["first"].items()
        if not any(where.startswith(f"tests/{sprint}/") for sprint in HEAVY[name])
    }
    assert not pulled, "grading pulled in " + "; ".join(f"{n} at {w}" for n, w in pulled.items())
    assert "torchvision" in result["first"], "Sprint 2 imports torchvision (else: drop it here)"
    assert not result["ops_run"], "torchvision.ops's code ran: it should stay deferred"


def test_the_syllabus_constants_are_in_both_trees():
    import ast

    for tree in ("solutions", "exercises"):
        source = (ROOT / tree / "sprint2" / "transforms.py").read_text()
        values = {
            t.id: ast.literal_eval(node.value)
            for node in ast.parse(source).body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name) and t.id.startswith("MNIST_")
        }
        assert values.get("MNIST_MEAN") == 0.1307 and values.get("MNIST_STD") == 0.3081, tree


def test_the_plugin_leans_on_one_private_pytest_function_and_pins_pytest():
    """pytest's internals may change in any release: the grader uses one (re-running a test
    for the known mistakes, in grader/plugin/diagnosis.py), and pyproject.toml pins pytest
    to the major version it was written for."""
    uses = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "grader").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(from|import) _pytest\b", line)
    ]
    assert uses == [uses[0]] and uses[0].startswith("grader/plugin/diagnosis.py:"), uses
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if re.match(r"pytest\b", d))
    major = int(pytest.__version__.split(".")[0])
    assert pin.replace(" ", "") == f"pytest>={major},<{major + 1}", (pin, pytest.__version__)

"""The code preset: its levels and dev files, the sandbox cost a round reports, the answer-time check."""
from pathlib import Path

from selfplay.commands import improve as improve_cli
from selfplay.answering.deliberate import answer_check_for
from selfplay.runfiles.runconfig import load_config, resolve_path
from selfplay.tasks import load_problems
from selfplay.loop.work import SampleJob, sample_problem
from tests.tiny_models import save_tiny_model
from verifiers.rewards import extract_program


def test_the_preset_climbs_the_code_levels_and_measures_easy_and_hard_dev():
    config = load_config("code")
    assert [Path(level).parent.name for level in config.curriculum.levels] == ["pipes", "pairs", "chains"]
    assert [Path(name).parent.name for name in config.dev_files] == ["pipes", "hard"]
    for name in (*config.curriculum.levels, *config.dev_files):
        assert {p.task for p in load_problems(resolve_path(name))} == {"funcs"}
    assert config.sampling.strategy == "sample" and config.eval.strategy == "best_of_n"


def test_the_answer_time_check_runs_the_visible_examples_only():
    problem = load_problems(resolve_path("datasets/funcs/hard/dev.jsonl"))[0]
    check = answer_check_for(problem)
    assert check(problem.meta["solution"]) == 1.0
    # a program that knows the visible examples by heart passes the check, and fails the grader
    table = {repr(args): expected for args, expected in problem.meta["examples"]}
    memorised = f"def f(xs):\n    return {table!r}[repr([xs])]\n"
    assert check(memorised) == 1.0
    from selfplay.answering.grading import grade
    assert not grade(problem, memorised).passed


def test_a_sampled_problem_reports_its_sandbox_runs(tmp_path):
    model_dir = save_tiny_model(tmp_path / "tiny")
    problem = load_problems(resolve_path("datasets/funcs/pipes/dev.jsonl"))[0]
    job = SampleJob(round=1, model_dir=str(model_dir), adapter_dir=None, strategy="sample", budget=3, seed=0,
                    search_overrides={"max_depth": 2, "max_step_tokens": 8})
    from selfplay.loop.work import LocalExecutor
    result = sample_problem(LocalExecutor().policy(str(model_dir), None), problem, job)
    tree = result.trees[0]
    answers = {extract_program(text) for text in _answers(tree)}
    assert result.sandbox_runs == len(answers) >= 1 and result.sandbox_s > 0


def _answers(tree: dict) -> list[str]:
    from search.tree import Tree as SearchTree
    loaded = SearchTree.from_dict(tree)
    return [loaded.answer_text(node) for node in loaded.terminals()]


def test_the_round_table_shows_programs_run_and_seconds():
    config = load_config("code")
    results = [{"round": 1, "sampling": {"sandbox_runs": 1234, "sandbox_s": 95.6}, "wall_s": 300.0}]
    assert improve_cli.round_row(results[0])["sandbox_runs"] == 1234
    table = improve_cli.rounds_table(results, config)
    assert "sandbox runs/s" in [column.header for column in table.columns]
    assert "1234/96" in list(table.columns[-2].cells)
    plain = improve_cli.rounds_table([{"round": 1, "sampling": {}, "wall_s": 1.0}], config)
    assert "sandbox runs/s" not in [column.header for column in plain.columns]


def test_the_examples_check_runs_a_program_once_however_often_it_is_written(monkeypatch):
    from selfplay.tasks.funcs import spec as builtin
    problem = load_problems(resolve_path("datasets/funcs/pipes/dev.jsonl"))[0]
    runs = []
    real = builtin.code.run_cases
    monkeypatch.setattr(builtin.code, "run_cases", lambda *args, **kwargs: runs.append(args[0]) or real(*args, **kwargs))
    check = answer_check_for(problem)
    fenced = f"```python\n{problem.meta['solution']}```"
    assert [check(problem.meta["solution"]), check(fenced), check("def f(xs):\n    return xs\n")][0] == 1.0
    assert len(runs) == 2


def test_the_structure_benchmark_reads_a_reference_program_back_into_its_steps():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_code_structure",
                                                  Path(__file__).resolve().parents[1] / "benchmarks" / "code_structure.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for problem in load_problems(resolve_path("datasets/funcs/hard/dev.jsonl"))[:20]:
        assert bench.steps(problem.meta["solution"]) == [tuple(stage) for stage in problem.meta["params"]["stages"]]
    assert bench.steps("def f(xs):\n    xs = [x + 0 for x in xs]\n    return xs\n") == [("?", "xs = [x + 0 for x in xs]")]

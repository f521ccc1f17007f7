"""The measurement scripts behind the README's figures: their helpers' doctests, and a tiny run of each cheap one."""
import doctest
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["learning", "headroom", "retry_traces", "search_traces"])
def test_doctests(name):
    result = doctest.testmod(load(name))
    assert result.attempted > 0 and result.failed == 0


def test_sign_test_is_symmetric_and_exact():
    sign_test = load("learning").sign_test
    assert sign_test(3, 9) == sign_test(9, 3)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 5) == pytest.approx(2 / 32)  # both tails of 5 coin tosses all landing one way


@pytest.mark.usefixtures("one_torch_thread")
def test_headroom_on_the_built_in_model(tmp_path):
    out = tmp_path / "headroom.json"
    assert load("headroom").main(["--limit", "3", "--samples", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    rows, summary = data["problems"], data["summary"]
    assert len(rows) == 3 and summary["n"] == 3 and summary["samples"] == 2
    assert all(0 <= row["pass_rate"] <= 1 and row["greedy_reason"] for row in rows)
    assert summary["greedy_accuracy"] == sum(row["greedy_passed"] for row in rows) / 3
    assert sum(summary["greedy_reasons"].values()) == pytest.approx(1.0)


def test_expert_control_rows_are_correct_train_solutions():
    from selfplay.answering.grading import grade
    from selfplay.tasks import load_problems

    rows = load("expert_control").expert_rows(REPO / "datasets" / "countdown" / "train.jsonl", 20, 0, "<eos>")
    assert len(rows) == 20 and len({row["prompt"] for row in rows}) == 20
    by_prompt = {problem.prompt: problem for problem in load_problems(REPO / "datasets" / "countdown" / "train.jsonl")}
    for row in rows:
        assert row["completion"].endswith("<eos>") and row["prompt"].endswith("\n")
        problem = by_prompt[row["prompt"][:-1]]
        assert grade(problem, row["completion"][:-len("<eos>")]).passed


def test_retry_rows_put_complete_failed_attempts_before_the_verified_answer():
    from types import SimpleNamespace

    from search import Tree
    from selfplay.tasks import Problem

    bench = load("retry_traces")
    problem = Problem(id="p", task="countdown", prompt="Use 6 5 13 to make 95.", answer="95", tests=None,
                      meta={"numbers": [6, 5, 13], "target": 95, "use_all": True})
    tree = Tree(problem_id="p", task="countdown")
    add = lambda parent, text, terminal: tree.add_node(parent, text, token_count=1, logprob=0.0,  # noqa: E731
                                                       terminal=terminal)
    wrong = add(add(0, "<<13*5=65>> [6 65]\n", False), "<<65+6=71>> [71]", True)  # complete, wrong value
    short = add(0, "<<13+6=19>> [5 19]", True)  # stops with 5 unused: not a complete attempt
    right = add(add(0, "<<13+6=19>> [5 19]\n", False), "<<19*5=95>> [95]", True)
    for node, passed in ((wrong, False), (short, False), (right, True)):
        tree.set_verdict(node, passed, float(passed), "passed" if passed else "wrong")
    assert bench.complete_attempt(problem, tree.answer_text(wrong))
    assert not bench.complete_attempt(problem, tree.answer_text(short))
    policy = SimpleNamespace(render_prompt=lambda problem: problem.prompt + "\n")
    (row,) = bench.retry_rows([tree], {"p": problem}, policy, "<eos>", max_failed=2, seed=0)
    assert row["prompt"] == problem.prompt + "\n"
    assert row["completion"] == ("<<13*5=65>> [6 65]\n<<65+6=71>> [71]\nretry\n"
                                 "<<13+6=19>> [5 19]\n<<19*5=95>> [95]<eos>")
    assert bench.last_attempt(row["completion"]) == "<<13+6=19>> [5 19]\n<<19*5=95>> [95]<eos>"
    assert len(row["tool_spans"]) == 4  # each calculator result, masked in training


def test_capacity_trains_on_the_hard_train_splits_only(tmp_path):
    from selfplay.builtin_model.corpus import load_train_problems
    from selfplay.tasks import load_problems
    folder = load("capacity").hard_datasets(tmp_path / "datasets")
    countdown = load_train_problems(folder / "countdown" / "train.jsonl")
    assert len(countdown) == 4000 and {p.meta["level"] for p in countdown} == {"std3", "std4"}
    assert sorted(p.name for p in (folder / "countdown").iterdir()) == ["train.jsonl"]  # no held-out split
    held_out = {p.id for split in ("dev", "test") for level in ("std3", "std4", "hard")
                for p in load_problems(REPO / "datasets" / "countdown" / level / f"{split}.jsonl")}
    assert not held_out & {p.id for p in countdown}


@pytest.mark.usefixtures("one_torch_thread")
def test_headroom_greedy_only_says_where_failed_answers_went_out_of_reach(tmp_path):
    out = tmp_path / "headroom.json"
    hard = str(REPO / "datasets" / "countdown" / "hard" / "dev.jsonl")
    assert load("headroom").main(["--tasks", hard, "--limit", "4", "--samples", "0", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    rows, summary = data["problems"], data["summary"]
    assert summary["samples"] == 0 and all(row["pass_rate"] is None for row in rows)
    failed = [row for row in rows if not row["greedy_passed"]]
    assert all(row["dead_after"] == "-" for row in rows if row["greedy_passed"])
    assert all(row["dead_after"] == "never" or row["dead_after"].startswith("after step ") for row in failed)
    assert sum(summary["greedy_out_of_reach"].values()) == len(failed) == summary["greedy_failures"]


def test_dead_after_follows_the_rule_of_the_problem():
    from selfplay.tasks.countdown import make_problem
    dead_after = load("headroom").dead_after
    standard, easy = make_problem([6, 5, 13], 95, use_all=True), make_problem([6, 5, 13], 30)
    assert dead_after(standard, "<<13+6=19>> [5 19]\n<<19*6=114>> [114]") == "never"  # solvable, then a bad step
    assert dead_after(standard, "<<6*5=30>> [13 30]") == "after step 1"  # 13 must be used: 30 and 13 give no 95
    assert dead_after(easy, "<<6*5=30>> [13 30]\n<<30+13=43>> [43]") == "after step 2"  # 30 was reached, then spent
    assert dead_after(standard, "<<13-13=0>> [0]") == "never"  # not a legal step: a rule broken, not a choice


def test_learning_rows_count_gains_on_the_large_test_and_judge_fast_accuracy_there():
    bench = load("learning")
    results = [{"round": 0, "wall_s": 60.0}, {"round": 1, "wall_s": 300.0}]
    small = [{"fast": {"accuracy": 0.5, "solved": ["a"]}, "deliberate": {"accuracy": 0.5}},
             {"fast": {"accuracy": 0.5, "solved": ["b"]}, "deliberate": {"accuracy": 0.5}}]
    base = [f"p{i}" for i in range(10)]
    large = [{"fast": {"accuracy": 0.10, "solved": base}},
             {"fast": {"accuracy": 0.28, "solved": base[2:] + [f"q{i}" for i in range(20)]}}]
    rows = bench.rows_of(results, small, "easy.jsonl", large)
    assert (rows[1]["gained"], rows[1]["lost"]) == (1, 1)
    assert (rows[1]["gained_large"], rows[1]["lost_large"]) == (20, 2)
    assert rows[1]["sign_test_p_large"] == bench.significant(bench.sign_test(20, 2)) < 0.001
    goals = bench.verdicts(rows, {"strategy": "mcts", "budget": 32, "accuracy": 0.6})
    assert goals["hard_fast_judged_on"] == "hard_fast_large" and goals["hard_fast_gain_15_points_p_below_0.01"]
    reference = {"strategy": "mcts", "budget": 32, "accuracy": 0.6}
    small_only = bench.verdicts(bench.rows_of(results, small, "easy.jsonl"), reference)
    assert small_only["hard_fast_judged_on"] == "hard_fast" and not small_only["hard_fast_gain_15_points_p_below_0.01"]


def test_learning_judges_easy_dev_on_the_whole_file_when_measured():
    bench = load("learning")
    results = [{"round": 0, "wall_s": 60.0, "eval": {"splits": {"easy.jsonl": {"fast": 0.50}}}},
               {"round": 1, "wall_s": 300.0, "eval": {"splits": {"easy.jsonl": {"fast": 0.44}}}}]
    small = [{"fast": {"accuracy": 0.1, "solved": []}, "deliberate": {"accuracy": 0.3}}] * 2
    reference = {"strategy": "mcts", "budget": 8, "accuracy": 0.3}
    run_only = bench.verdicts(bench.rows_of(results, small, "easy.jsonl"), reference)
    assert run_only["easy_fast_judged_on"] == "easy_fast" and run_only["easy_fast_drop_at_most_3_points"] is False
    whole = [{"fast": {"accuracy": 0.455}}, {"fast": {"accuracy": 0.46}}]  # the first 50 fell, the 200 did not
    rows = bench.rows_of(results, small, "easy.jsonl", easy_all=whole)
    assert [row["easy_fast_all"] for row in rows] == [0.455, 0.46]
    judged = bench.verdicts(rows, reference)
    assert judged["easy_fast_judged_on"] == "easy_fast_all" and judged["easy_fast"] == [0.455, 0.46]
    assert judged["easy_fast_drop_at_most_3_points"] is True
    assert "easy fast (all)" in [column.header for column in bench.table(rows, 50).columns]


def test_learning_judges_deliberate_accuracy_on_the_whole_test_when_measured(tmp_path):
    bench = load("learning")
    from selfplay.runfiles import rundir
    test = "datasets/countdown/hard/test.jsonl"
    ids = [problem.id for problem in bench.test_problems(test, 0)]
    config = SimpleNamespace(eval=SimpleNamespace(strategy="mcts", budget=8), seed=0)
    results = [{"round": 0, "wall_s": 60.0}, {"round": 1, "wall_s": 300.0, "adapter": "a1"},
               {"round": 2, "wall_s": 300.0, "adapter": "a2"}]
    for index, solved in ((0, ids[:60]), (2, ids[30:112])):  # cached as a run measured them: no policy is loaded
        key = {"test": test, "n": len(ids), "eval": ["mcts", 8, {}], "adapter": results[index].get("adapter")}
        rundir.write_json(tmp_path / f"test-all-round-{index}.json",
                          {"key": key, "deliberate": {"accuracy": len(solved) / len(ids), "solved": solved}})
    whole = bench.whole_test_deliberate(config, results, tmp_path, test, None, None)
    assert whole == {"n": 200, "rounds": [0, 2], "accuracy": [0.3, 0.41], "gained": 52, "lost": 30,
                     "sign_test_p": bench.significant(bench.sign_test(52, 30))}
    small = [{"fast": {"accuracy": 0.1, "solved": []}, "deliberate": {"accuracy": accuracy}}
             for accuracy in (0.3, 0.3, 0.36)]  # the first 50 rose 6 points, all 200 rose 11
    rows = bench.rows_of(results, small, "easy.jsonl")
    reference = {"strategy": "mcts", "budget": 8, "accuracy": 0.3}
    assert bench.verdicts(rows, reference)["hard_deliberate_gain_10_points"] is False
    judged = bench.verdicts(rows, reference, whole)
    assert judged["hard_deliberate_gain_10_points"] is True and judged["hard_deliberate_all"] == [0.3, 0.41]
    assert judged["hard_deliberate_judged_on"] == "all 200 test problems"
    assert bench.plot(rows, reference, tmp_path / "learning.png", "t", whole).stat().st_size > 0


def test_learning_keys_deliberate_measurements_by_the_search_settings_the_model_declares():
    bench = load("learning")
    from selfplay.tasks.countdown.traces import searching_search
    searching = SimpleNamespace(model="models/search", eval=SimpleNamespace(strategy="mcts", budget=8))
    assert bench.deliberate_key(searching) == ["mcts", 8, {"countdown": searching_search()}]
    plain = SimpleNamespace(model="models/base", eval=SimpleNamespace(strategy="mcts", budget=8))
    assert bench.deliberate_key(plain) == ["mcts", 8, {}]  # a cached measurement under other settings is redone


def test_search_traces_try_dead_first_steps_then_solve_through_a_live_one():
    import random

    from selfplay.tasks import load_problems
    from selfplay.tasks.countdown import solve
    from verifiers.countdown import check_countdown
    bench = load("search_traces")
    retry = load("retry_traces")
    rng = random.Random(0)
    for problem in load_problems(REPO / "datasets" / "countdown" / "std4" / "train.jsonl")[:40]:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        answer = bench.search_trace(list(numbers), target, 3, rng)
        attempts = bench.attempts_of(answer)
        assert 1 <= len(attempts) <= 4 and len({a.split("\n")[0] for a in attempts}) == len(attempts)
        assert check_countdown(numbers, target, attempts[-1], use_all=True).passed
        for failed in attempts[:-1]:
            assert retry.complete_attempt(problem, failed) and not check_countdown(numbers, target, failed, True).passed
            assert solve(bench.after(list(numbers), failed.split("\n")[0]), target, use_all=True) is None
        shown = bench.written(numbers, answer)  # calculator calls and the numbers left, per attempt
        assert bench.attempts_of(shown)[-1].split("\n")[0].startswith("<<")
        assert retry.last_attempt(shown) == bench.attempts_of(shown)[-1]  # the same cut as the retry benchmark's


def test_search_traces_in_the_given_order_try_every_step_before_the_live_one_or_give_none():
    import random

    from selfplay.tasks import load_problems
    from selfplay.tasks.countdown import solve
    bench = load("search_traces")
    made = 0
    for problem in load_problems(REPO / "datasets" / "countdown" / "std3" / "train.jsonl")[:40]:
        numbers, target = list(problem.meta["numbers"]), problem.meta["target"]
        answer = bench.search_trace(numbers, target, 3, random.Random(0), "given")
        order = bench.in_given_order(numbers)
        live = [solve(bench.after(numbers, step), target, use_all=True) is not None for step in order]
        if answer is None:  # more than 3 dead steps before the first live one
            assert live.index(True) > 3
            continue
        made += 1
        openings = [attempt.split("\n")[0] for attempt in bench.attempts_of(answer)]
        assert openings == order[:len(openings)] and live.index(True) == len(openings) - 1
    assert made >= 20


def test_words_doctests_and_rules_judge_the_same_answers():
    words = load("words")
    result = doctest.testmod(words)
    assert result.attempted > 0 and result.failed == 0

    class Constant:  # a judge that trusts answers ending in 7
        def score(self, prompts, texts):
            return [0.9 if text.endswith("7") else 0.1 for text in texts]
    answers = [[("#### 5", False, "5")] * 3 + [("#### 7", True, "7")] * 13,  # majority right from 8 answers
               [("#### 5", False, "5")] * 10 + [("#### 7", True, "7")] * 6]  # only the judge finds it
    found = words.judged([None, None], answers, Constant(), Constant(), ["q", "q"])
    accuracy = found["accuracy"]
    assert accuracy["majority@4"] == 0.0 and accuracy["majority@16"] == 0.5  # 3 of the first 4 say 5
    assert accuracy["pass@4"] == 0.5 and accuracy["pass@16"] == 1.0
    assert accuracy["weighted@16"] == 1.0 and accuracy["best_of@16"] == 1.0 and accuracy["best_of@4"] == 0.5
    assert found["auroc_outcome"] == 1.0 and found["answers"] == 32 and found["answers_passed"] == 19

"""Deliberate answering on real task problems, lab compare, and tree files."""
import gzip
import json
from types import SimpleNamespace

import pytest

from search import TreeFormatError
from selfplay.answering.compare import compare, plot
from selfplay.answering.deliberate import answer_check_for, answer_key_for, deliberate, tokens_per_answer
from selfplay.answering.evaluate import evaluate
from selfplay.tasks import Problem
from selfplay.runfiles.treeio import read_trees, write_trees
from tests.test_search_fakes import FakePolicy, Option
from verifiers.sandbox import isolation_mode

COUNTDOWN = Problem.create("countdown", "Use 7 22 4 to make 88 with + - * /. Each number at most once.", answer="88",
                           meta={"numbers": [7, 22, 4], "target": 88, "solution": "22*4=88"})
ARITH = Problem.create("arith", "Ann has 3 bags of 4 apples. How many apples?", answer="12",
                       meta={"solution": "3*4=12\n#### 12"})


class TaskFakePolicy(FakePolicy):
    """A fake policy with the surface `deliberate` needs: prompts, encoding, a step delimiter."""

    step_delimiter = "\n"

    def render_prompt(self, problem):
        return problem.prompt + "\n"

    def encode(self, text, *, prompt):
        return list(range(len(text) // 4 + 1))

    def complete(self, prompts, num_samples=1, *, temperature=0.0, max_new_tokens=64, seed=None, top_p=1.0):
        """Whole answers, one step at a time (the real policy does this in one batched loop)."""
        answers = []
        for index, prompt in enumerate(prompts):
            row_seed = seed[index] if isinstance(seed, list) else seed
            states = [self.root(prompt)] * num_samples
            texts, tokens = [""] * num_samples, [0] * num_samples
            for depth in range(4):
                steps = [self.expand([state], 1, temperature=temperature, seed=row_seed)[0][0] for state in states]
                texts = [text + step.text for text, step in zip(texts, steps)]
                tokens = [count + step.n_tokens for count, step in zip(tokens, steps)]
                states = [step.state for step in steps]
                if all(step.terminal for step in steps):
                    break
            answers.append([SimpleNamespace(text=text, n_tokens=count) for text, count in zip(texts, tokens)])
        return answers


def countdown_policy():
    # The likeliest answer is wrong; the rules check can find the right one among samples.
    def options(steps):
        return [Option("7+4=11", -0.1, n_tokens=7, terminal=True), Option("22*4=88", -0.7, n_tokens=8, terminal=True),
                Option("22-7=15", -1.0, n_tokens=8, terminal=True)] if not steps else []
    return TaskFakePolicy(options, prompt_tokens=16)


def test_countdown_rules_guide_the_search_but_grading_uses_the_ground_truth():
    check = answer_check_for(COUNTDOWN)
    assert check("22*4=88") == 1.0 and check("7+4=11") == 0.0
    fast = deliberate(countdown_policy(), COUNTDOWN, "greedy", 1)
    slow = deliberate(countdown_policy(), COUNTDOWN, "best_of_n", 8, seed=0)
    assert not fast.verdict.passed and fast.result.answer_text == "7+4=11"
    assert slow.verdict.passed and slow.result.answer_text == "22*4=88"
    verdicts = [slow.result.tree.verdicts[node] for node in slow.result.tree.terminals()]
    assert all(verdict is not None for verdict in verdicts)
    assert any(verdict["passed"] for verdict in verdicts) and not all(verdict["passed"] for verdict in verdicts)


def test_arith_has_no_answer_time_check_and_votes_on_final_answers():
    assert answer_check_for(ARITH) is None
    key = answer_key_for(ARITH)
    assert key("3*4=12\n#### 1,000") == key("\\boxed{1000}") and key("no answer") is None

    def options(steps):
        return [Option("3*4=12\n#### 12", -1.0, n_tokens=6, terminal=True),
                Option("3+4=7\n#### 7", -0.5, n_tokens=6, terminal=True),
                Option("4*3=12\n#### 12", -1.2, n_tokens=6, terminal=True)] if not steps else []

    class Scripted(TaskFakePolicy):
        def _choose(self, state, options, count, temperature, seed):
            return [i % 3 for i in range(count)]

    outcome = deliberate(Scripted(options), ARITH, "majority", 6)
    assert outcome.verdict.passed  # 12 wins four votes to two, although 7 is the likeliest single answer


@pytest.mark.parametrize("strategy", ["majority", "best_of_n", "beam", "mcts"])
@pytest.mark.parametrize("budget", [1, 4, 16])
def test_searches_stay_within_the_budget(strategy, budget):
    policy = countdown_policy()
    if (strategy, budget) == ("mcts", 1):  # one answer's worth pays for no expansion of 8 steps: refused
        from search import BudgetTooSmall
        with pytest.raises(BudgetTooSmall):
            deliberate(policy, COUNTDOWN, strategy, budget, seed=1)
        return
    outcome = deliberate(policy, COUNTDOWN, strategy, budget, seed=1)
    allowance = budget * tokens_per_answer(policy, policy.render_prompt(COUNTDOWN), "countdown")
    assert 0 <= outcome.result.tokens <= allowance
    if budget >= 4:
        assert outcome.result.answer_text is not None


def test_evaluate_search_strategy_reports_trees_and_accuracy():
    seen = []
    result = evaluate(countdown_policy(), [COUNTDOWN], "best_of_n", 8, on_tree=lambda p, o: seen.append(o))
    assert result.accuracy == 1.0 and result.n == 1 and len(seen) == 1 and result.tokens > 0


def test_compare_rows_plot_and_trees(tmp_path):
    rows = compare(countdown_policy(), [COUNTDOWN], ["best_of_n", "mcts"], [2, 8], out_dir=tmp_path,
                   include_sample=False, progress=False)
    assert [(row["strategy"], row["budget"]) for row in rows] == [
        ("greedy", 1), ("best_of_n", 2), ("best_of_n", 8), ("mcts", 2), ("mcts", 8)]
    assert rows[0]["accuracy"] == 0.0 and rows[2]["accuracy"] == 1.0
    image = plot(rows, tmp_path / "compare.png", "test")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trees = list(read_trees(tmp_path / "trees" / "mcts-8.jsonl.gz"))
    assert len(trees) == 1 and trees[0].strategy == "mcts"
    assert (trees[0].problem_id, trees[0].task) == (COUNTDOWN.id, "countdown")


def test_tree_files_round_trip_and_refuse_other_versions(tmp_path):
    tree = deliberate(countdown_policy(), COUNTDOWN, "beam", 4).result.tree.to_dict()
    path = write_trees(tmp_path / "t.jsonl.gz", [tree, tree])
    assert [read.to_dict() for read in read_trees(path)] == [tree, tree]
    with gzip.open(tmp_path / "old.jsonl.gz", "wt") as handle:
        handle.write(json.dumps(tree) + "\n" + json.dumps(dict(tree, format="selfplay.tree/0")) + "\n")
    with pytest.raises(TreeFormatError, match=r"old.jsonl.gz:2: .*selfplay.tree/1"):
        list(read_trees(tmp_path / "old.jsonl.gz"))


@pytest.mark.skipif(isolation_mode() != "namespaces", reason="runs code in the sandbox")
def test_funcs_answer_check_runs_only_the_visible_examples():
    problem = Problem.create("funcs", "Write f(x).", tests={"entry_point": "f", "cases": [[[5], 10], [[6], 12]]},
                             meta={"examples": [[[1], 2], [[2], 4]], "solution": "def f(x):\n    return 2 * x\n"})
    check = answer_check_for(problem)
    # Passes the visible examples, fails the hidden cases: the check must not see the hidden ones.
    assert check("def f(x):\n    return {1: 2, 2: 4}[x]\n") == 1.0
    assert check("def f(x):\n    return x\n") == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--strategies", "bogus"], "unknown or no strategies"),
    (["--strategies", "greedy"], "unknown or no strategies"),
    (["--budgets", "4,x"], "expected a whole number, got 'x'"),
    (["--budgets", "0"], "expected a positive integer, got 0"),
])
def test_lab_compare_refuses_bad_strategies_and_budgets(argv, message, capsys):
    from selfplay.commands.lab import main
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--model", "m", "--tasks", "t.jsonl", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_countdown_check_rules_out_broken_prefixes_from_the_question_alone():
    check = answer_check_for(COUNTDOWN)
    numbers, target = COUNTDOWN.meta["numbers"], COUNTDOWN.meta["target"]
    first = f"{numbers[0]}+{numbers[1]}={numbers[0] + numbers[1]}\n"
    assert check.prefix(first) is None
    assert check.prefix(f"{numbers[0]}+{numbers[1]}={numbers[0] + numbers[1] + 1}\n") == 0.0
    assert check.prefix("I think the answer is\n") == 0.0
    assert check(COUNTDOWN.meta["solution"]) == 1.0 and check(first) == float(numbers[0] + numbers[1] == target)


def test_a_model_that_declares_longer_answers_is_priced_by_them():
    from selfplay.answering.deliberate import pricing_for
    policy = TaskFakePolicy(lambda steps: [], prompt_tokens=16)
    plain = tokens_per_answer(policy, "Use 7 22 4\n", "countdown")
    policy.pricing = {"countdown": {"answer_tokens": 432, "max_depth": 40, "step_tokens": 32}}
    assert tokens_per_answer(policy, "Use 7 22 4\n", "countdown") == plain - 64 + 432
    assert pricing_for(policy, "countdown").max_depth == 40 and pricing_for(policy, "arith").max_depth == 8
    policy.pricing = {"countdown": {"answer_tokens": 432, "depth": 40}}
    with pytest.raises(ValueError, match="selfplay_pricing for 'countdown'"):
        pricing_for(policy, "countdown")


def test_a_model_that_declares_search_settings_is_searched_with_them():
    from selfplay.answering.deliberate import search_config
    policy = TaskFakePolicy(lambda steps: [], prompt_tokens=16)
    assert not search_config(policy, COUNTDOWN).rollouts  # none declared: the defaults
    policy.search_defaults = {"countdown": {"rollouts": True, "expansions_per_node": 8}}
    config = search_config(policy, COUNTDOWN, num_simulations=64)
    assert config.rollouts and config.expansions_per_node == 8 and config.num_simulations == 64
    assert search_config(policy, COUNTDOWN, expansions_per_node=2).expansions_per_node == 2  # the caller wins
    assert not search_config(policy, ARITH).rollouts  # only the task it names
    policy.search_defaults = {"countdown": {"rollout": True}}
    with pytest.raises(ValueError, match=r"selfplay_search for 'countdown'.*rollout"):
        search_config(policy, COUNTDOWN)
    policy.search_defaults = {"countdown": {"expansions_per_node": 0}}
    with pytest.raises(ValueError, match="selfplay_search for 'countdown': expansions_per_node must be at least 1"):
        search_config(policy, COUNTDOWN)
    policy.search_defaults = {"countdown": ["rollouts"]}
    with pytest.raises(ValueError, match="selfplay_search for 'countdown' must hold SearchConfig fields"):
        search_config(policy, COUNTDOWN)


def test_a_policy_that_searches_in_its_text_keeps_finished_attempts_open():
    finished = "22+7=29\n29-4=25\n"  # every number used, 25 is not 88: only `retry` may follow
    assert answer_check_for(COUNTDOWN).prefix(finished) == 0.0
    searching = answer_check_for(COUNTDOWN, retries=True)
    assert searching.prefix(finished) is None and searching.prefix(finished + "retry\n") is None
    assert searching(finished + "retry\n22*4=88") == 1.0
    assert answer_check_for(ARITH, retries=True) is None  # a task without the notion is unchanged


def test_a_budget_that_pays_for_no_model_call_is_refused_not_reported_as_zero():
    """A model whose steps are priced far above its answers (as a chat model's are at MCTS x2): the first
    expansion's worst case does not fit, and deliberate says so instead of answering 0.000 at 0 tokens."""
    from search import BudgetTooSmall
    policy = countdown_policy()
    policy.pricing = {"countdown": {"answer_tokens": 8, "max_depth": 4, "step_tokens": 200}}
    for strategy in ("mcts", "beam"):
        with pytest.raises(BudgetTooSmall, match=rf"{strategy} x2: .* pay for no model call on problem {COUNTDOWN.id}"):
            deliberate(policy, COUNTDOWN, strategy, 2, seed=0)
    policy.pricing = {"countdown": {"answer_tokens": 64, "max_depth": 4, "step_tokens": 16}}
    assert deliberate(policy, COUNTDOWN, "mcts", 2, seed=0).result.policy_tokens > 0  # priced sanely, it searches

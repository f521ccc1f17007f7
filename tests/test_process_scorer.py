"""The feature scorers for word problems: features read off an answer's numbers, a deterministic
logistic fit, outcome and process scorers fitted on graded trees, save / load, search's protocol."""
import random

import pytest

from search import SearchConfig, best_of_n, weighted_majority
from selfplay.tasks import arith
from tests.test_reward_model import make_tree
from tests.test_search_fakes import ScriptedPolicy, Option
from verifiers.process_scorer import (FEATURES, FeatureScorer, features, fit_logistic, fit_outcome_scorer,
                                      fit_process_scorer, load_feature_scorer, read_question)
from verifiers.scorer_metrics import auroc

STORY = "Ann has 15 cards. Leo has 40 cards. She buys 3 packs of 6 cards each. How many cards does Ann have now?"


def named(prompt, completion):
    return dict(zip(FEATURES, features(prompt, completion)))


def test_the_features_see_a_miscopied_number_a_distractor_and_a_dangling_result():
    right = named(STORY, "<<3*6=18>>\n<<15+18=33>>\n#### 33")
    assert (right["ungrounded_operands"], right["unused_question_numbers"], right["dangling_results"],
            right["other_person_numbers"], right["final_is_last_result"]) == (0, 1, 0, 0, 1)  # 40 unused
    miscopied = named(STORY, "<<3*7=21>>\n<<15+21=36>>\n#### 36")
    assert miscopied["ungrounded_operands"] == 1 and miscopied["any_ungrounded"] == 1
    distracted = named(STORY, "<<3*6=18>>\n<<40+18=58>>\n#### 58")
    assert distracted["other_person_numbers"] == 1 and distracted["unused_question_numbers"] == 1
    dangling = named(STORY, "<<3*6=18>>\n<<15+3=18>>\n#### 18")
    assert dangling["dangling_results"] == 1 and dangling["numbers_used_twice"] == 1
    unfinished = named(STORY, "<<3*6=18>>\n")
    assert unfinished["has_final"] == 0 and unfinished["unused_question_numbers"] == 0  # not judged yet
    assert read_question("Then the number of cards she has doubles. How many cards does Ann have now?").numbers == ("2",)


def test_the_logistic_fit_recovers_a_known_rule_and_is_deterministic():
    rng = random.Random(0)
    rows = [[1.0, rng.random(), rng.random()] for _ in range(400)]
    targets = [float(row[1] > 0.5) for row in rows]  # only the first feature matters
    coefficients = fit_logistic(rows, targets)
    assert coefficients[1] > 4 and abs(coefficients[2]) < 1 and coefficients == fit_logistic(rows, targets)
    with pytest.raises(ValueError):
        fit_logistic([[1.0]], [1.0, 0.0])


def graded_trees(count: int, seed: int):
    """Per distract problem: its reference solution (passes) and two mistakes the model makes
    (a miscopied first operand, the distracting number used), as one sampled tree."""
    trees, prompts = [], {}
    for problem in arith.generate(count, seed, level="distract"):
        lines = problem.meta["solution"].split("\n")[:-1]
        right = "".join(f"<<{line}>>\n" for line in lines) + f"#### {problem.answer}"
        first, rest = lines[0], lines[1:]
        left, op_right = first.split("=")[0], first.split("=")[1]
        miscopied = right.replace(f"<<{first}>>", f"<<{int(left[0]) + 1}{left[1:]}={op_right}>>", 1)
        numbers = read_question(problem.prompt).other_person or {"99"}
        distracted = right.replace(f"#### {problem.answer}", "") + f"<<{problem.answer}+{min(numbers)}=1>>\n#### 1"
        tree = make_tree(problem.id, [(0, right, True, True), (0, miscopied, True, False),
                                      (0, distracted, True, False)])
        trees.append(tree)
        prompts[problem.id] = problem.prompt + "\n"
    return trees, prompts


def test_an_outcome_scorer_fitted_on_graded_answers_ranks_held_out_ones():
    trees, prompts = graded_trees(60, seed=1)
    scorer = fit_outcome_scorer(trees, prompts)
    held_out, held_prompts = graded_trees(40, seed=2)
    texts = [(held_prompts[t.problem_id], t.answer_text(node), passed) for t in held_out for node, passed in t.graded()]
    scores = scorer.score([p for p, _, _ in texts], [c for _, c, _ in texts])
    assert auroc(scores, [passed for _, _, passed in texts]) > 0.9
    assert scorer.role == "outcome" and scorer.info["training"]["answers"] == 180
    with pytest.raises(ValueError, match="both passed and failed"):
        fit_outcome_scorer([make_tree("p", [(0, "#### 1", True, True)])], {"p": "q\n"})


def test_a_process_scorer_ranks_a_grounded_first_step_above_a_miscopied_one(tmp_path):
    trees, prompts = graded_trees(40, seed=3)
    steps = []  # the same answers as step-by-step paths, so prefixes are shared
    for tree in trees:
        nodes, parent_of = [], {}
        for node, passed in tree.graded():
            parent = 0
            for line in tree.answer_text(node).splitlines(keepends=True):
                key = (parent, line)
                if key not in parent_of:
                    nodes.append((parent, line, line.startswith("####"), None))
                    parent_of[key] = len(nodes)
                parent = parent_of[key]
            nodes[parent - 1] = (*nodes[parent - 1][:3], passed)
        steps.append(make_tree(tree.problem_id, nodes))
    process = fit_process_scorer(steps, prompts)
    assert process.role == "process" and process.info["training"]["prefixes"] > 100
    problem = arith.generate(1, seed=9, level="distract")[0]
    first = problem.meta["solution"].split("\n")[0]
    wrong_first = f"{int(first[0]) + 1}{first[1:]}"
    good, bad = process.as_scorer().score(problem.prompt + "\n", [[f"<<{first}>>\n"], [f"<<{wrong_first}>>\n"]])
    assert good > bad
    process.save(tmp_path / "process")
    again = load_feature_scorer(tmp_path / "process")
    assert again.coefficients == process.coefficients and again.role == "process"
    assert again.as_scorer().cost_bound("q", [["a"]]) == 0


def test_a_saved_scorer_of_other_features_is_refused(tmp_path):
    scorer = FeatureScorer([0.0] * len(FEATURES), "outcome")
    scorer.save(tmp_path / "s")
    record = (tmp_path / "s" / "scorer.json").read_text().replace('"bias"', '"bias2"')
    (tmp_path / "s" / "scorer.json").write_text(record)
    with pytest.raises(ValueError, match="features"):
        load_feature_scorer(tmp_path / "s")
    with pytest.raises(ValueError):
        FeatureScorer([0.0], "outcome")


def test_search_uses_the_outcome_scorer_to_pick_an_answer():
    trees, prompts = graded_trees(60, seed=4)
    scorer = fit_outcome_scorer(trees, prompts).as_scorer()
    problem = arith.generate(1, seed=11, level="distract")[0]
    lines = problem.meta["solution"].split("\n")[:-1]
    right = "".join(f"<<{line}>>\n" for line in lines) + f"#### {problem.answer}"
    wrong = f"<<{int(lines[0][0]) + 1}{lines[0][1:]}>>\n#### 7777"
    policy = ScriptedPolicy({(): [Option(wrong, -0.1, n_tokens=4, terminal=True),
                                  Option(wrong, -0.1, n_tokens=4, terminal=True),
                                  Option(right, -3.0, n_tokens=4, terminal=True)]})
    key = lambda text: text.split("####")[-1].strip()
    chosen = best_of_n(policy, problem.prompt + "\n", SearchConfig(num_samples=3), seed=0, scorer=scorer)
    assert chosen.answer_text == right
    voted = weighted_majority(policy, problem.prompt + "\n", SearchConfig(num_samples=3), seed=0, scorer=scorer,
                              answer_key=key)
    assert voted.answer_text == right  # one trusted answer outweighs two distrusted ones


def test_agreement_with_the_other_answers_in_the_call_raises_a_score():
    coefficients = [0.0] * len(FEATURES)
    coefficients[FEATURES.index("agreement")] = 4.0
    scorer = FeatureScorer(coefficients, "outcome")
    alone, = scorer.score(["q"], ["#### 5"])
    together = scorer.score(["q"] * 3, ["#### 5", "#### 5", "#### 9"])
    assert alone == 0.5 and together[0] == together[1] > 0.8 and together[2] == 0.5
    assert scorer.score(["q", "r"], ["#### 5", "#### 5"]) == [0.5, 0.5]  # other prompts do not vote

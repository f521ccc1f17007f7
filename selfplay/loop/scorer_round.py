"""The round's answer-time scorers: outcome and process scorers refitted on the round's graded trees.

    training["scorer"] = scorer_phase(context, round_dir)      # rounds.train_phase, with train_scorer on

Word problems have no check at answer time, so deliberate answering needs a learned judge, and the
judge must follow the policy: each round fits `round-K/outcome_scorer/` (complete answers, passed or
not) and `round-K/process_scorer/` (every prefix, its Monte-Carlo value) on that round's trees
(`verifiers.process_scorer`). Before the fit on every tree, the same fit on 80% of the problems is
scored on the other 20% (`scorer_data.split_by_problem`), so the round's record carries a held-out
AUROC of answers the scorer did not see (`process_scorer.held_out_report`): a judge that cannot rank its own
round's answers is visible in the table before anyone trusts it at answer time.

The trees hold no prompts: the round's problems are found by id in the run's train files and
rendered as the policy saw them (`selfplay.model.prompting.prompt_renderer`).

Knows the run directory, the run config and the scorer fits; nothing about Ray or models.
"""
from __future__ import annotations

from selfplay.model.prompting import prompt_renderer
from selfplay.runfiles import rundir, treeio
from selfplay.tasks import load_problems
from verifiers.process_scorer import fit_outcome_scorer, fit_process_scorer, held_out_report, load_feature_scorer
from verifiers.scorer_data import split_by_problem

OUTCOME_DIR, PROCESS_DIR = "outcome_scorer", "process_scorer"
HELD_OUT_SHARE = 0.2


def round_prompts(context, problem_ids: set[str]) -> dict[str, str]:
    """Rendered prompts of the problems with these ids, from the run's train files."""
    config = context.config
    render, _ = prompt_renderer(context.model_dir)
    files = list(config.curriculum.levels) or list(config.train_files)
    prompts = {}
    for name in files:
        for problem in load_problems(config.path(name)):
            if problem.id in problem_ids:
                prompts[problem.id] = render(problem)
    missing = problem_ids - set(prompts)
    if missing:
        raise KeyError(f"{len(missing)} problems of the round's trees are in none of the run's train files")
    return prompts


def held_out_reports(trees: list, prompts: dict[str, str], seed: int) -> dict:
    """AUROC and ranking numbers of scorers fitted on 80% of the problems, on the other 20%."""
    fitted, held_out = split_by_problem(trees, HELD_OUT_SHARE, seed=seed)
    report = {}
    for role, fit in (("outcome", fit_outcome_scorer), ("process", fit_process_scorer)):
        try:
            scorer = fit(fitted, prompts)
        except ValueError as error:
            report[role] = {"skipped": str(error)}
            continue
        report[role] = held_out_report(scorer, held_out, prompts)
    return report


def scorer_phase(context, round_dir: rundir.RoundDir) -> dict:
    """Fit (or, when both exist, read) the round's outcome and process scorers; their records."""
    outcome_dir, process_dir = round_dir.path / OUTCOME_DIR, round_dir.path / PROCESS_DIR
    if not (outcome_dir / "scorer.json").is_file() or not (process_dir / "scorer.json").is_file():
        trees = treeio.scan_trees(round_dir.trees).trees
        prompts = round_prompts(context, {tree.problem_id for tree in trees})
        report = held_out_reports(trees, prompts, seed=context.config.seed + round_dir.index)
        for role, fit, directory in (("outcome", fit_outcome_scorer, outcome_dir),
                                     ("process", fit_process_scorer, process_dir)):
            try:
                scorer = fit(trees, prompts)
            except ValueError as error:
                return {"skipped": str(error), "held_out": report}
            scorer.info["held_out"] = report[role]
            scorer.save(directory)
    return {role: {"training": scorer.info.get("training"), "held_out": scorer.info.get("held_out")}
            for role, scorer in (("outcome", load_feature_scorer(outcome_dir)),
                                 ("process", load_feature_scorer(process_dir)))}

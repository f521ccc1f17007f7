"""The improvement loop (`jobs.improve`): K rounds of sample -> select -> finetune -> evaluate.

    summaries = improve(load_config("smoke"), LocalExecutor(threads=1))

Round 0 evaluates the base model (`round-0/eval.json`). Round K:
1. sample: the round's training problems go to the executor with round K-1's adapter; each
   problem's tree is appended to `trees.jsonl.gz` the moment it comes back;
2. select: `selfplay.loop.selection` picks the training traces (+ replay of earlier rounds), writes
   `rm.jsonl`, rewrites the trees with their `selected` flags, then writes `sft.jsonl`;
3. finetune: `selfplay.loop.finetune` trains `adapter/` (optionally also `reward_model/`);
4. evaluate: fast (greedy) and deliberate (the configured search) on the dev split, then
   `metrics.json`, then `DONE`.

Resuming: a round with DONE is skipped. Otherwise each phase is skipped when its output exists:
sampling when `sft.jsonl` exists (selection is its last step), and otherwise only the problems
whose trees are already in the file are skipped, after a torn tail is cut off; finetuning when
`adapter/` exists; evaluation when `metrics.json` exists. Sampling refuses to finish a round
whose trees file does not hold every problem exactly once.

The trees file is read (into `search.Tree`s) at most once per round: sampling reads what a
resumed round holds already and adds the trees as they come back; selection takes those and
returns flagged copies, which the round's metrics read. Only a round resumed after selection
reads the file again.

Knows the round's phases, the run directory and the executor protocol; nothing about Ray.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from search import Tree
from selfplay.runfiles import rundir, tracking, treeio
from selfplay.loop.curriculum import round_draw, solved_shares
from selfplay.loop.finetune import read_training
from selfplay.loop.scorer_round import scorer_phase
from selfplay.model.prompting import prompt_renderer
from selfplay.answering.grading import grade
from selfplay.loop.preflight import check_hardware, check_inputs, prepare_run_dir
from selfplay.runfiles.runconfig import RunConfig
from selfplay.loop.selection import (Candidate, Relabeled, attempt_ends, attempt_stops, candidate_at, refit_rows,
                                select_round, selection_stats)
from selfplay.tasks import Problem, load_problems, task_spec
from selfplay.tasks.problem import normalised_key
from selfplay.tasks.splits import held_out_index
from selfplay.loop.work import EvalRequest, ProblemTrees, SampleJob, TrainRequest


@dataclass
class Context:
    """What every phase of a run needs: the config, the run directory, the executor, an evaluator."""

    config: RunConfig
    run: rundir.RunDir
    executor: object  # selfplay.loop.work.Executor: samples, finetunes and evaluates (here or in Ray actors)
    progress: bool = True
    log: Callable[[str], None] = print

    @property
    def model_dir(self) -> str:
        return str(self.config.path(self.config.model))


# --- problems ----------------------------------------------------------------------------------

def round_problems(config: RunConfig, round_index: int, history: Sequence[Mapping[str, float]] = ()) -> list[Problem]:
    """The round's training problems (`selfplay.loop.curriculum`: the levels at the frontier, fresh problems)."""
    return [problem for problems in round_draw(config, round_index, history).values() for problem in problems]


def level_history(run: rundir.RunDir, round_index: int) -> list[dict]:
    """The solved share per train file of rounds 1..K-1, from their metrics (what the curriculum reads)."""
    return [(rundir.read_metrics(run.round(k).metrics).get("curriculum") or {}).get("solved", {})
            for k in range(1, round_index)]


def dev_splits(config: RunConfig) -> dict[str, list[Problem]]:
    """The first `eval.limit` problems of each dev file, by file name."""
    return {name: load_problems(config.path(name))[:config.eval.limit] for name in config.dev_files}


def dev_problems(config: RunConfig) -> list[Problem]:
    """The first `eval.limit` problems of each dev file, one list."""
    return [problem for problems in dev_splits(config).values() for problem in problems]


# --- phases ------------------------------------------------------------------------------------

def sample_phase(context: Context, round_dir: rundir.RoundDir, problems: list[Problem],
                 job: SampleJob) -> tuple[dict, list[Tree]]:
    """Trees for every problem not yet in the round's file, appended as they arrive; returns
    (the phase's stats, every tree the file holds)."""
    scan = treeio.scan_trees(round_dir.trees)
    dropped = treeio.repair_trees(round_dir.trees, scan)
    trees = scan.trees
    present = {tree.problem_id for tree in trees}
    wanted = {problem.id for problem in problems}
    todo = [problem for problem in problems if problem.id not in present]
    tokens, wall, sandbox_runs, sandbox_s, unlearnable = 0, 0.0, 0, 0.0, 0
    bar = tqdm(total=len(problems), initial=len(problems) - len(todo), desc=f"round {job.round} sample",
               unit="problem", disable=not context.progress)

    def on_result(result: ProblemTrees) -> None:
        nonlocal tokens, wall, sandbox_runs, sandbox_s, unlearnable
        if result.problem_id in present or result.problem_id not in wanted:
            return  # a retried or foreign result: every problem is written once
        received = [Tree.from_dict(tree) for tree in result.trees]
        treeio.append_trees(round_dir.trees, result.trees)
        trees.extend(received)
        present.add(result.problem_id)
        tokens, wall = tokens + result.tokens, wall + result.wall_s
        sandbox_runs, sandbox_s = sandbox_runs + result.sandbox_runs, sandbox_s + result.sandbox_s
        unlearnable += result.unlearnable
        bar.update(1)

    start = time.perf_counter()
    if todo:
        context.executor.run(todo, job, on_result)
    bar.close()
    ids = [tree.problem_id for tree in trees]
    if sorted(ids) != sorted(wanted):
        raise RuntimeError(f"{round_dir.trees}: holds {len(set(ids))} of {len(wanted)} problems "
                           f"({len(ids) - len(set(ids))} twice); the executor did not return every problem")
    stats = {"strategy": job.strategy, "budget": job.budget, "problems": len(problems),
             "sampled_now": len(todo), "resumed": len(problems) - len(todo), "torn_bytes_dropped": dropped,
             "tokens": tokens, "worker_wall_s": round(wall, 3), "wall_s": round(time.perf_counter() - start, 3),
             "sandbox_runs": sandbox_runs, "sandbox_s": round(sandbox_s, 3),  # programs graded by running them
             "unlearnable": unlearnable}  # passes failed as right by luck (TaskSpec.unlearnable), sampled now
    return stats, trees


def earlier_rows(run: rundir.RunDir, round_index: int) -> list[dict]:
    """The sft.jsonl rows of rounds 1..K-1 (their own selections and their replays)."""
    rows = []
    for earlier in range(1, round_index):
        path = run.round(earlier).sft
        rundir.check_kinds([path])  # a folder in its place would replay nothing, silently
        if path.is_file():
            rows.extend(rundir.read_jsonl(path))
    return rows


SFT_KEYS = ("prompt", "completion", "problem_id", "round")


def read_selection(round_dir: rundir.RoundDir, trees: Sequence[Tree]) -> list[dict]:
    """The round's sft.jsonl, checked against its trees: DamagedFile naming it when a row lacks what
    selection writes, or when the trees flag selected steps and the file holds none of this round's rows
    (sft.jsonl is written whole, after the flags, so an emptied one is damage, not an empty selection)."""
    rows = rundir.read_jsonl(round_dir.sft)
    for number, row in enumerate(rows, 1):
        missing = [key for key in SFT_KEYS if key not in row]
        if missing:
            raise rundir.DamagedFile(f"{round_dir.sft}: row {number} lacks {', '.join(missing)}; "
                                     f"{rundir.REMEDIES['sft.jsonl']}")
    selected = sum(sum(tree.selected) for tree in trees)
    if selected and not any(row["round"] == round_dir.index for row in rows):
        raise rundir.DamagedFile(f"{round_dir.sft}: holds none of round {round_dir.index}'s rows while its trees "
                                 f"flag {selected} selected steps (emptied or replaced after selection); "
                                 f"{rundir.REMEDIES['sft.jsonl']}")
    return rows


def passing_attempts(trees: Sequence[Tree], problems: Sequence[Problem]) -> dict[str, list[Candidate]]:
    """Per problem, the abandoned attempts of failed answers (`selection.attempt_ends`) that the
    task's grader passes as answers ending there: the answer searched past a right attempt. The
    attempts are cut at the task's `retry_marker`; a task without one gives none."""
    by_id = {problem.id: problem for problem in problems}
    found = {}
    for tree in trees:
        problem = by_id[tree.problem_id]
        marker = task_spec(problem.task).retry_marker
        if marker is None:
            continue
        verified = [candidate for candidate in (candidate_at(tree, node, 1.0) for node in attempt_ends(tree, marker))
                    if grade(problem, candidate.text).passed]
        if verified:
            found[tree.problem_id] = verified
    return found


def relabeled_answers(trees: Sequence[Tree], problems: Sequence[Problem], render: Callable[[Problem], str],
                      held_out: Mapping[str, str]) -> list[Relabeled]:
    """Hindsight (`selection` rule 6): each attempt a graded answer finishes (`attempt_stops`), as
    the answer to the problem whose target is its own result (`TaskSpec.relabel`), kept where the
    task's grader passes it there and the relabeled problem is neither one of `problems` (its own
    tree answers it) nor in a dev or test split (`held_out`: ids and normalised keys), by content
    whatever the ids. Tasks without a relabel hook give none."""
    by_id = {problem.id: problem for problem in problems}
    excluded = {*held_out, *(key for problem in problems for key in (problem.id, normalised_key(problem)))}
    found = []
    for tree in trees:
        problem = by_id[tree.problem_id]
        spec = task_spec(problem.task)
        if spec.relabel is None or spec.retry_marker is None:
            continue
        for node in attempt_stops(tree, spec.retry_marker):
            answer = candidate_at(tree, node, 1.0)
            other = spec.relabel(problem, answer.text)
            if other is None or other.id in excluded or normalised_key(other) in excluded \
                    or not grade(other, answer.text).passed:
                continue
            found.append(Relabeled(other.id, render(other), tree.problem_id, node, answer.text, answer.tokens))
    return found


def select_phase(context: Context, round_dir: rundir.RoundDir, problems: list[Problem],
                 trees: Sequence[Tree]) -> list[Tree]:
    """rm.jsonl, the trees with `selected` flags, then sft.jsonl (its existence marks the phase done);
    returns the flagged trees as written."""
    render, eos_text = prompt_renderer(context.model_dir)
    prompts = {problem.id: render(problem) for problem in problems}
    chosen = context.config.selection
    attempts = passing_attempts(trees, problems) if chosen.passing_attempts and chosen.targets == "path" else {}
    relabeled = []
    if chosen.hindsight_rows and chosen.targets == "path":
        held_out = held_out_index([context.config.path(name) for name in context.config.dev_files])
        relabeled = relabeled_answers(trees, problems, render, held_out)
    selection = select_round(trees, prompts, earlier_rows(context.run, round_dir.index), chosen,
                             round_index=round_dir.index, eos_text=eos_text, seed=context.config.seed,
                             passing_attempts=attempts, relabeled=relabeled)
    rundir.write_jsonl(round_dir.rm, selection.rm_rows)
    treeio.write_trees(round_dir.trees, [tree.to_dict() for tree in selection.trees])
    rundir.write_jsonl(round_dir.sft, selection.rows)
    return selection.trees


def train_phase(context: Context, round_dir: rundir.RoundDir) -> dict:
    """adapter/ (and reward_model/ when asked) from the round's sft.jsonl / rm.jsonl."""
    config = context.config
    previous = context.run.round(round_dir.index - 1).adapter if round_dir.index > 1 else None
    if not round_dir.adapter.is_dir():
        rows = rundir.read_jsonl(round_dir.sft)
        if not config.sft.continue_adapter:  # ReST-EM: a fresh LoRA on every round's verified rows so far
            rows = refit_rows(earlier_rows(context.run, round_dir.index), rows, round_dir.index)
        with saving("the adapter", round_dir.adapter):
            context.executor.finetune(TrainRequest(
                rows, context.model_dir, str(round_dir.adapter), config.sft, None if previous is None else str(previous),
                config.seed + round_dir.index, str(context.run.path), round_dir.index, base_name=base_name(config)))
    else:  # trained by an earlier invocation: it must still load, or the evaluation and the next round would crash
        rundir.check_adapter(round_dir.adapter)  # (run_round checked it too; train_phase is called on its own)
    training = read_training(round_dir.adapter)
    training.pop("log_history", None)
    if config.train_reward_model:
        info = round_dir.reward_model / "scorer.json"  # verifiers.reward_model's record of a finished model
        training["reward_model"] = rundir.read_json(info).get("training") if info.is_file() \
            else reward_model_phase(context, round_dir)
    if config.train_scorer:  # word problems' answer-time judges, refitted on this round's graded trees
        training["scorer"] = scorer_phase(context, round_dir)
    return training


@contextlib.contextmanager
def saving(what: str, path: Path):
    """A disk that fills up while `what` is trained and saved to `path` is a `rundir.NoSpace` naming them,
    not a traceback from the writer (an executor on Ray hands the worker's OSError back as a subclass)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - re-raised unless it is a full disk
        cause = getattr(error, "cause", None)  # Ray's RayTaskError holds the worker's exception
        original = cause if isinstance(cause, BaseException) else error
        if isinstance(original, rundir.NoSpace):
            raise rundir.NoSpace(str(original)) from None  # the message alone, not the worker's traceback
        full = rundir.no_space(original, what, path) if isinstance(original, OSError) else None
        if full is None:
            raise
        raise full from None


def base_name(config: RunConfig) -> str:
    """The base model an adapter records (`base_model_name_or_path`): the driver's absolute path, so
    `AutoPeftModelForCausalLM` finds it from any folder (a relative `models/base` did only in the
    checkout), never a worker's scratch copy; a Hub id stays as it is."""
    path = config.path(config.model)
    return str(path.resolve()) if path.exists() else config.model


def reward_model_phase(context: Context, round_dir: rundir.RoundDir) -> dict:
    from verifiers.scorer_data import PreferencePair

    pairs = [PreferencePair(row["problem_id"], row["prompt"], row["chosen"], row["rejected"], row["kind"])
             for row in rundir.read_jsonl(round_dir.rm)]
    if not pairs:
        return {"skipped": "no (verified, failed) pairs in rm.jsonl"}
    config = context.config.reward_model_config(seed=context.config.seed + round_dir.index)
    with saving("the reward model", round_dir.reward_model):
        context.executor.finetune(TrainRequest(pairs, context.model_dir, str(round_dir.reward_model), config, None,
                                               config.seed, str(context.run.path), round_dir.index,
                                               base_name=base_name(context.config), trainer="reward_model"))
    return rundir.read_json(round_dir.reward_model / "scorer.json")["training"]


def eval_phase(context: Context, adapter_dir: Path | None) -> dict:
    """Fast (greedy) and deliberate dev accuracy of the base model with `adapter_dir` on it."""
    config, splits = context.config, dev_splits(context.config)
    problems = [problem for chosen in splits.values() for problem in chosen]
    if not problems:
        return {}
    adapter = None if adapter_dir is None else str(adapter_dir)

    def answered(strategy: str, budget: int, max_new_tokens: int):  # in this process or over the Ray actors
        request = EvalRequest(context.model_dir, adapter, strategy, budget, config.seed, max_new_tokens, config.tools,
                              together=config.together)
        return context.executor.evaluate(problems, request, progress=context.progress)

    fast = answered("greedy", 1, config.eval.max_new_tokens)
    deliberate = answered(config.eval.strategy, config.eval.budget, 256)  # a search's steps have their own caps
    return {"fast": fast.to_dict(), "deliberate": deliberate.to_dict(),
            "splits": split_accuracies({name: [p.id for p in chosen] for name, chosen in splits.items()},
                                       {"fast": fast, "deliberate": deliberate}),
            "solved": {kind: sorted(o.id for o in result.problems if o.solved)
                       for kind, result in (("fast", fast), ("deliberate", deliberate))}}


def split_accuracies(splits: Mapping[str, Sequence[str]], results: Mapping[str, object]) -> dict[str, dict]:
    """Per dev file: its problem count and each result's accuracy on its problems."""
    table = {}
    for name, ids in splits.items():
        wanted = set(ids)
        row = {"n": len(wanted)}
        for kind, result in results.items():
            outcomes = [o for o in result.problems if o.id in wanted]
            row[kind] = round(sum(o.solved for o in outcomes) / len(outcomes), 4) if outcomes else None
        table[name] = row
    return table


# --- rounds ------------------------------------------------------------------------------------

def base_round(context: Context) -> dict:
    """round-0/eval.json: the base model's dev numbers (computed once)."""
    round_dir = context.run.round(0)
    if not round_dir.eval.is_file():
        start = time.perf_counter()
        result = {"round": 0, "model": context.model_dir, "eval": eval_phase(context, None)}
        result["wall_s"] = round(time.perf_counter() - start, 3)
        rundir.write_json(round_dir.eval, result)
    return rundir.read_metrics(round_dir.eval)


def run_round(context: Context, index: int) -> dict:
    """Run (or resume) round `index`; returns its metrics."""
    config, round_dir = context.config, context.run.round(index)
    round_dir.check_kinds()
    if round_dir.is_done():
        return rundir.read_metrics(round_dir.metrics)
    if round_dir.adapter.is_dir():  # finetuning will be skipped: the adapter must load (evaluation, next round)
        rundir.check_adapter(round_dir.adapter)
    swept = round_dir.sweep_temporaries()
    if swept:
        context.log(f"round {index}: removed temporaries of an interrupted run: {', '.join(swept)}")
    start = time.perf_counter()
    draw = round_draw(config, index, level_history(context.run, index))
    problems = [problem for chosen in draw.values() for problem in chosen]
    previous = context.run.round(index - 1).adapter if index > 1 else None
    if previous is not None:
        rundir.check_adapter(previous)  # the round samples with it
    job = SampleJob(round=index, model_dir=context.model_dir, adapter_dir=None if previous is None else str(previous),
                    strategy=config.sampling.strategy, budget=config.sampling.budget, seed=config.seed,
                    search_overrides=dict(config.sampling.search), tools=config.tools, together=config.together)
    if round_dir.sft.is_file():  # resumed after selection
        sampling, trees = None, treeio.read_trees_prefix(round_dir.trees)
    else:
        sampling, sampled = sample_phase(context, round_dir, problems, job)
        trees = select_phase(context, round_dir, problems, sampled)
    selection = selection_stats(trees, read_selection(round_dir, trees), rundir.read_jsonl(round_dir.rm), index)
    if not round_dir.metrics.is_file():
        training = train_phase(context, round_dir)
        evaluation = eval_phase(context, round_dir.adapter)
        curriculum = {"levels": {name: len(chosen) for name, chosen in draw.items()},
                      "solved": solved_shares(draw, trees)}
        metrics = {"round": index, "adapter": str(round_dir.adapter),
                   "sampling": sampling or {"resumed_after": "selection"}, "selection": selection,
                   "curriculum": curriculum, "train": training, "eval": evaluation,
                   "compute": compute_totals(sampling, training, evaluation, trees),
                   "wall_s": round(time.perf_counter() - start, 3)}
        rundir.write_json(round_dir.metrics, metrics)
        tracking.round_written(config.sft.report_to, context.run.path, metrics)  # tracker scalars, progress.png
    round_dir.mark_done()
    return rundir.read_metrics(round_dir.metrics)


def compute_totals(sampling: dict | None, training: dict, evaluation: dict, trees: Sequence[Tree]) -> dict:
    """Tokens by phase. Sampling tokens count only problems sampled by this process; the trees'
    decode tokens (sum of node token counts) cover every problem, resumed ones included."""
    return {"sample_tokens": (sampling or {}).get("tokens", 0),
            "tree_decode_tokens": sum(sum(tree.token_counts) for tree in trees),
            "train_tokens": training.get("tokens", 0),
            "eval_tokens": sum(result.get("tokens", 0) for result in evaluation.values())}


def improve(config: RunConfig, executor, *, progress: bool = True,
            on_round: Callable[[dict], None] | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Run or continue a run; returns [round-0 summary, metrics of round 1, ..., round K]."""
    check_inputs(config)
    check_hardware(config, executor)
    run = prepare_run_dir(config, log)
    context = Context(config, run, executor, progress, log)
    results = [base_round(context)]
    if on_round is not None:
        on_round(results[-1])
    for index in range(1, config.rounds + 1):
        results.append(run_round(context, index))
        if on_round is not None:
            on_round(results[-1])
    return results

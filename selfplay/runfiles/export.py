"""`lab export`: the synthetic data a run produced, as files other trainers read.

    lab export ~/selfplay-runs/cd1 --kind sft --out sft.jsonl
    lab export ~/selfplay-runs/cd1 --kind preference --out pairs.parquet --round 2 --task countdown

Three kinds, all read from the rounds' trees (`trees.jsonl.gz`), one row per line or parquet row;
`datasets.load_dataset("json" | "parquet", data_files=FILE)` reads them, and TRL trainers take
them as they are:

- `sft` (SFTTrainer, prompt/completion): every distinct graded answer whose verifier status is
  kept (`--verdict`, default `passed`: the verified answers), with `passed`, `status` and
  `selected` (whether the round picked it as its own training data).
- `preference` (DPOTrainer, prompt/chosen/rejected): `verifiers.scorer_data.branch_pairs`: at a
  node whose children's subtrees disagree, the continuation to a verified answer over the one
  to a failed answer; the prompt carries the shared steps, `depth` says how many.
- `steps` (value labels; KTOTrainer reads prompt/completion/label): each internal node's prefix
  with `verifiers.scorer_data.value_labels`' Monte-Carlo value: `value` = `passed` / `total`,
  the share of graded answers below the prefix that verified; `label` is true when any did.

Every row carries `problem_id`, `round` and `task`. For a run whose model has no chat template
the prompt is the text the policy continued (the run's own `sft.jsonl` / `rm.jsonl` rows, else
the problem in the built-in format); a completion carries no EOS text (trainers append their
tokenizer's own). For a chat model the rows are conversational, as TRL's trainers take them and
apply their own template (a rendered prompt would have it twice: two BOS on a Llama prompt):
`prompt` is the user turn as a message list, and `completion`, `chosen` and `rejected` are
assistant turns (a preference pair's shared steps begin both of its answers; tool spans count
from the start of the assistant's text).
`--verdict` names the verifier statuses whose answers are used; answers with other statuses
count as ungraded (e.g. `--verdict passed --verdict wrong` leaves timeouts out of every kind).

When the trees hold tool calls, rows say where tool output sits, as `[[start, end], ...]`
character spans (empty when none): `tool_spans` in `completion` (sft, steps),
`chosen_tool_spans` and `rejected_tool_spans` (preference); a trainer masks them out of the
loss. Runs without tool calls export no such columns.

The export refuses, with the problem and the split named, any row whose problem is in a dev or
test split: the committed `datasets/*/{dev,test}.jsonl` and the run's own `dev_files`, by id and
by normalised content (`selfplay.tasks.problem.normalised_key`: a copy under another id, with a
trailing space, "1,000" for 1000 or its countdown numbers in another order is the same problem).
Held-out problems must not leak into another model's training data.

Knows the run directory (through `selfplay.runfiles.runread`), the row formats and jsonl / parquet;
nothing about models beyond reading a tokenizer's chat template when a prompt must be rendered.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

from selfplay.runfiles import rundir
from selfplay.model.prompting import builtin_prompt, chat_messages
from selfplay.runfiles.runconfig import resolve_path
from search import Tree
from selfplay.runfiles.runread import RunError, RunView, open_run
from selfplay.tasks import Problem, TaskFileError, splits
from selfplay.tasks.problem import normalised_key
from verifiers.scorer_data import branch_pairs, value_labels
from verifiers.verdict import STATUSES

KINDS = ("sft", "preference", "steps")
FAILED = tuple(status for status in STATUSES if status != "passed")
DEFAULT_VERDICTS = {"sft": ("passed",), "preference": STATUSES, "steps": STATUSES}


class ExportError(RunError):
    """An export that must not or cannot be written (held-out problems, nothing to write, a bad path)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    kind: str
    rows: int
    by_round: dict[int, int]


# --- rows ----------------------------------------------------------------------------------------

def keep_statuses(tree: Tree, statuses: Iterable[str]) -> Tree:
    """A copy of `tree` whose verdicts with a status outside `statuses` are dropped (count as ungraded)."""
    kept = set(statuses)
    return replace(tree, verdicts=[verdict if verdict is not None and verdict.get("status") in kept else None
                                   for verdict in tree.verdicts])


def sft_rows(trees: list[Tree], prompts: Mapping[str, str]) -> list[dict]:
    """One row per distinct graded answer text of each tree, in node order."""
    rows, seen = [], set()
    for tree in trees:
        for node, passed in tree.graded():
            completion = tree.answer_text(node)
            key = (tree.problem_id, completion)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"prompt": prompts[tree.problem_id], "completion": completion,
                         "problem_id": tree.problem_id, "round": tree.round, "task": tree.task,
                         "passed": passed, "status": tree.verdicts[node].get("status"),
                         "selected": bool(tree.selected[node])})
    return rows


def preference_rows(trees: list[Tree], prompts: Mapping[str, str]) -> list[dict]:
    """`branch_pairs` of the trees (one round's), as rows."""
    tasks = {tree.problem_id: (tree.task, tree.round) for tree in trees}
    return [{"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected,
             "problem_id": pair.problem_id, "round": tasks[pair.problem_id][1], "task": tasks[pair.problem_id][0],
             "depth": pair.depth} for pair in branch_pairs(trees, prompts)]


def step_rows(trees: list[Tree], prompts: Mapping[str, str]) -> list[dict]:
    """`value_labels` of the internal nodes of the trees (one round's), as rows."""
    tasks = {tree.problem_id: (tree.task, tree.round) for tree in trees}
    return [{"prompt": label.prompt, "completion": label.completion, "label": label.passed > 0,
             "value": label.value, "passed": label.passed, "total": label.total, "problem_id": label.problem_id,
             "round": tasks[label.problem_id][1], "task": tasks[label.problem_id][0]}
            for label in value_labels(trees, prompts, include_terminals=False)]


ROW_MAKERS: dict[str, Callable[[list[Tree], Mapping[str, str]], list[dict]]] = {
    "sft": sft_rows, "preference": preference_rows, "steps": step_rows}


def tool_span_index(trees: Iterable[Tree]) -> dict[tuple[str, str], list[list[int]]]:
    """(problem id, answer text from the root) -> spans of tool output in it, for every node with
    tool output on its path; a text met twice keeps its first spans."""
    index: dict[tuple[str, str], list[list[int]]] = {}
    for tree in trees:
        if any(tree.tool_calls):
            for node in range(1, len(tree)):
                spans = tree.tool_spans(node)
                if spans:
                    index.setdefault((tree.problem_id, tree.answer_text(node)), [list(span) for span in spans])
    return index


def add_tool_spans(rows: list[dict], index: Mapping[tuple[str, str], list], prompts: Mapping[str, str]) -> None:
    """Give each row the spans of tool output in its completion (preference: in chosen and rejected)."""
    for row in rows:
        if "completion" in row:
            row["tool_spans"] = index.get((row["problem_id"], row["completion"]), [])
            continue
        prefix = row["prompt"][len(prompts[row["problem_id"]]):]  # the shared steps before the branch
        for side in ("chosen", "rejected"):
            spans = index.get((row["problem_id"], prefix + row[side]), [])
            row[f"{side}_tool_spans"] = [[start - len(prefix), end - len(prefix)] for start, end in spans
                                         if start >= len(prefix)]


# --- prompts -------------------------------------------------------------------------------------

def _has_chat_template(model_dir: Path) -> bool:
    if (model_dir / "chat_template.jinja").is_file() or (model_dir / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return False
    return bool(config.get("chat_template"))


def _run_model_dir(run: RunView) -> Path:
    model_dir = resolve_path(run.config().get("model") or "models/base")
    if not model_dir.is_dir():
        raise ExportError(f"{model_dir}: the run's model is not there, so its prompts cannot be rendered")
    return model_dir


def run_has_chat_template(run: RunView) -> bool:
    return _has_chat_template(_run_model_dir(run))


def make_conversational(rows: list[dict], prompts: Mapping[str, str], problems: Mapping[str, Problem],
                        spans: Mapping[tuple[str, str], list]) -> None:
    """Rows of a chat model's run, in place: the user turn as messages, answers as assistant turns."""
    for row in rows:
        problem = problems.get(row["problem_id"])
        if problem is None:
            raise ExportError(f"problem {row['problem_id']} is in none of the run's task files, so its user turn "
                              "cannot be written")
        steps = row["prompt"][len(prompts[row["problem_id"]]):]  # a preference pair's shared steps, else ""
        row["prompt"] = chat_messages(problem.prompt, problem.task)
        for side in ("completion", "chosen", "rejected"):
            if side in row:
                content = steps + row[side]
                row[side] = [{"role": "assistant", "content": content}]
                if spans and side != "completion":
                    row[f"{side}_tool_spans"] = spans.get((row["problem_id"], content), [])


def run_prompt_renderer(run: RunView) -> Callable[[Problem], str]:
    """How the run's policy saw a problem: the built-in format, or the model's chat template."""
    model_dir = _run_model_dir(run)
    if not _has_chat_template(model_dir):
        return lambda problem: builtin_prompt(problem.prompt)
    from transformers import AutoTokenizer  # only a chat model's prompts need the tokenizer

    from selfplay.model.prompting import format_for

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    prompt_format = format_for(tokenizer)
    return lambda problem: prompt_format.render(problem.prompt, problem.task, tokenizer)


def run_prompts(run: RunView, problem_ids: Iterable[str]) -> dict[str, str]:
    """problem id -> the prompt text the policy continued, for every id in `problem_ids`."""
    prompts: dict[str, str] = {}
    for index in run.round_indices():
        for path in (run.run.round(index).sft, run.run.round(index).rm):
            if path.is_file():
                prompts.update((row["problem_id"], row["prompt"]) for row in rundir.read_jsonl(path))
    missing = sorted(set(problem_ids) - set(prompts))
    if missing:
        problems, render = run.problems(), run_prompt_renderer(run)
        unknown = [problem_id for problem_id in missing if problem_id not in problems]
        if unknown:
            files = ", ".join(map(str, run.task_files())) or "none in config.yaml"
            raise ExportError(f"no prompt for problem {unknown[0]} ({len(unknown)} problems): it is in none of "
                              f"the run's training files ({files})")
        prompts.update((problem_id, render(problems[problem_id])) for problem_id in missing)
    return prompts


# --- held-out problems ---------------------------------------------------------------------------

def held_out_index(extra_files: Iterable[str | os.PathLike] = ()) -> dict[str, str]:
    """Problem id and normalised key -> the dev or test file holding it (committed splits + `extra_files`)."""
    try:
        return splits.held_out_index(extra_files)
    except TaskFileError as error:
        raise ExportError(f"cannot check for held-out problems: {error}") from None


def check_held_out(rows: list[dict], held_out: Mapping[str, str], problems: Mapping[str, Problem]) -> None:
    """ExportError naming the first row whose problem (by id or normalised content) is in a dev or test split."""
    keys = {problem_id: normalised_key(problems[problem_id])
            for problem_id in {row["problem_id"] for row in rows} if problem_id in problems}
    for row in rows:
        for key in (row["problem_id"], keys.get(row["problem_id"])):
            if key in held_out:
                count = sum(other["problem_id"] == row["problem_id"] for other in rows)
                raise ExportError(f"problem {row['problem_id']} (round {row['round']}, {count} rows) is in the "
                                  f"held-out split {held_out[key]}; dev and test problems are never exported. "
                                  "Filter its round or task out, or rerun without held-out problems in training")


# --- files ---------------------------------------------------------------------------------------

def write_rows(rows: list[dict], path: str | os.PathLike) -> Path:
    """Rows to `.jsonl` or `.parquet` (by suffix), atomically."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return rundir.write_jsonl(path, rows)
    if path.suffix != ".parquet":
        raise ExportError(f"{path}: write .jsonl or .parquet")
    import pyarrow
    import pyarrow.parquet

    buffer = io.BytesIO()  # the rows are in memory already; rundir.write_bytes makes the file atomically
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), buffer)
    return rundir.write_bytes(path, buffer.getvalue())


def export_run(run_path: str | os.PathLike, kind: str, out: str | os.PathLike, *, rounds: Iterable[int] = (),
               tasks: Iterable[str] = (), verdicts: Iterable[str] = ()) -> ExportResult:
    """Write `kind` rows of the run's rounds (all with trees, or `rounds`) to `out`; see the module docstring."""
    if kind not in KINDS:
        raise ExportError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if Path(out).suffix not in (".jsonl", ".parquet"):
        raise ExportError(f"{out}: write .jsonl or .parquet")
    run = open_run(run_path)
    indices = sorted(set(rounds)) or run.round_indices()
    if not indices:
        raise ExportError(f"{run.path}: no round has trees yet")
    statuses, wanted_tasks = tuple(verdicts) or DEFAULT_VERDICTS[kind], set(tasks)
    by_round = {index: [keep_statuses(tree, statuses) for tree in run.trees(index)
                        if not wanted_tasks or tree.task in wanted_tasks] for index in indices}
    prompts = run_prompts(run, {tree.problem_id for trees in by_round.values() for tree in trees})
    rows = []
    for index, trees in by_round.items():
        rows.extend(ROW_MAKERS[kind](sorted(trees, key=lambda tree: tree.problem_id), prompts))
    spans = tool_span_index(tree for trees in by_round.values() for tree in trees)
    if spans:
        add_tool_spans(rows, spans, prompts)
    if rows and run_has_chat_template(run):
        make_conversational(rows, prompts, run.problems(), spans)
    if not rows:
        raise ExportError(f"no {kind} rows in round {', '.join(map(str, indices))} of {run.path} "
                          f"(tasks: {', '.join(sorted(wanted_tasks)) or 'all'}; verdicts: {', '.join(statuses)})")
    dev_files = [resolve_path(name) for name in run.config().get("dev_files") or ()]
    check_held_out(rows, held_out_index(dev_files), run.problems())
    path = write_rows(rows, out)
    counts = {index: sum(row["round"] == index for row in rows) for index in indices}
    return ExportResult(path, kind, len(rows), counts)

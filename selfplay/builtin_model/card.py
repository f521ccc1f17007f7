"""The base model's card: its dev numbers, measured by a small sampler here, and the README.

`evaluate_model` loads a model directory as a `Policy` with the tools the model declares (the
built-in model calls the calculator), answers problems in the built-in format greedily and by
sampling (temperature 1, no top-k or top-p) as whole answers, and grades every answer with
`selfplay.answering.grading.grade`. `lab eval` (search strategies under a budget) is the lab's evaluator of
record; these are the card's plain greedy and pass@k figures.

    python -m selfplay.commands.card --model models/base      # re-measure; prints the eval.json object

`finish` writes `eval.json`, `pretrain.yaml` (the resolved config) and `README.md` (YAML metadata
for the Hub first: license, library, pipeline, the dev numbers as a model-index) into the model
directory after `pretrain`, and sets what a plain `generate` needs: greedy answers of at most
`ANSWER_TOKENS` in `generation_config.json`, the model's positions as the tokenizer's
`model_max_length`. Knows models, the grader and the dev splits; nothing about training.
"""
from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml

from selfplay.builtin_model.corpus import corpus_tasks, model_declarations, recipe_of
from selfplay.answering.grading import grade
from selfplay.model.prompting import builtin_prompt
from selfplay.tasks import Problem, load_problems, task_spec
from selfplay.tasks.spec import dev_files
from selfplay.tasks.splits import pool_seed
from verifiers.atomic_files import write_text

REPO = Path(__file__).resolve().parents[2]
ANSWER_TOKENS = 256  # generation_config's max_new_tokens: lab eval's default cap, above every spec's card_tokens
LICENSE = "apache-2.0"  # the repository's (pyproject.toml)


@dataclass(frozen=True)
class TaskEval:
    task: str  # the task of the problems
    n_greedy: int  # problems answered greedily
    greedy: float  # share solved by the greedy answer
    n_sampled: int  # problems answered by sampling (may be a prefix of the greedy ones)
    samples: int  # samples per problem at temperature 1
    pass_at_samples: float  # share solved by at least one of the samples
    sample_accuracy: float  # share of all samples that are correct (pass@1 at temperature 1)
    wall_s: float  # generation and grading time


def _generate(policy, prompts: list[str], copies: int, max_new_tokens: int, seed: int) -> list[str]:
    """`copies` completions per prompt (greedy when copies == 0 gives one), special tokens dropped."""
    answers = policy.complete(prompts, max(copies, 1), temperature=1.0 if copies else 0.0,
                              max_new_tokens=max_new_tokens, seed=seed)
    return [completion.text for group in answers for completion in group]


def _solved(problems: list[Problem], answers: list[list[str]]) -> list[list[bool]]:
    """Grades every answer; identical answers to one problem are graded once (funcs runs code)."""
    results = []
    for problem, mine in zip(problems, answers):
        verdicts = {text: grade(problem, text).passed for text in set(mine)}
        results.append([verdicts[text] for text in mine])
    return results


def evaluate_model(model_dir: str | Path, problems: list[Problem], samples: int = 32, sampled: int | None = None,
                   batch_size: int = 256, seed: int = 0, threads: int = 1) -> TaskEval:
    """Greedy accuracy on `problems` and pass@`samples` on the first `sampled` of them (all by
    default). Problems must share one task. Deterministic in `seed` on one machine."""
    tasks = {problem.task for problem in problems}
    if len(tasks) != 1:
        raise ValueError(f"evaluate one task at a time, got {sorted(tasks)}")
    task, start = tasks.pop(), time.monotonic()
    torch.set_num_threads(threads)
    from selfplay.model.policy import Policy
    policy = Policy.from_pretrained(model_dir, device="cpu", dtype=torch.float32)
    declared = policy.pricing.get(task, {}).get("answer_tokens")  # a model whose answers search in their text
    max_new = max(task_spec(task).card_tokens, declared or 0)
    prompts = [builtin_prompt(problem.prompt) for problem in problems]
    greedy = []
    for i in range(0, len(prompts), batch_size):
        greedy += _generate(policy, prompts[i:i + batch_size], 0, max_new, seed)
    greedy_solved = _solved(problems, [[text] for text in greedy])
    chosen = problems[:len(problems) if sampled is None else sampled] if samples else []
    per_batch = max(1, batch_size // max(samples, 1))
    sample_solved = []
    for i in range(0, len(chosen), per_batch):
        group = chosen[i:i + per_batch]
        texts = _generate(policy, [builtin_prompt(p.prompt) for p in group], samples, max_new,
                          pool_seed(seed, "card-eval", group[0].id))
        sample_solved += _solved(group, [texts[j * samples:(j + 1) * samples] for j in range(len(group))])
    n_samples = max(len(sample_solved) * samples, 1)
    greedy_share = sum(solved[0] for solved in greedy_solved) / max(len(problems), 1)
    return TaskEval(task=task, n_greedy=len(problems), greedy=round(greedy_share, 4),
                    n_sampled=len(chosen), samples=samples if chosen else 0,
                    pass_at_samples=round(sum(any(s) for s in sample_solved) / max(len(chosen), 1), 4),
                    sample_accuracy=round(sum(map(sum, sample_solved)) / n_samples, 4),
                    wall_s=round(time.monotonic() - start, 1))


def measure_dev(model_dir: str | Path, samples: int = 32, funcs_limit: int = 50, seed: int = 0,
                datasets: str | Path = REPO / "datasets", threads: int = 1,
                tasks: Collection[str] | None = None) -> dict[str, dict]:
    """The card's numbers: every dev problem greedily, pass@`samples` on every dev problem of a task
    graded by answer and on the first `funcs_limit` of a task whose answers are programs (funcs).
    The splits are the task specs' `dev_files`: for the built-in model, each task's dev file and the
    hard countdown dev split (the standard game), which it was never pretrained on. `tasks`: only the
    dev files of these tasks (a model pretrained on some: its corpus's task_mix); None: all."""
    results = {}
    for name, file in dev_files().items():
        if not (Path(datasets) / file).is_file():
            continue
        problems = load_problems(Path(datasets) / file)
        if tasks is not None and not {problem.task for problem in problems} <= set(tasks):
            continue
        runs_code = any(task_spec(problem.task).writes_code for problem in problems)
        sampled = min(funcs_limit, len(problems)) if runs_code else None
        results[name] = asdict(evaluate_model(model_dir, problems, samples, sampled=sampled, seed=seed,
                                              threads=threads))
        print(json.dumps({"split": name, **results[name]}), flush=True)
    return results


def _eval_table(results: dict[str, dict]) -> str:
    rows = ["| task (dev) | greedy | pass@k | k | problems sampled | accuracy per sample |",
            "|---|---|---|---|---|---|"]
    for task, r in results.items():
        rows.append(f"| {task} | {r['greedy']:.1%} (n={r['n_greedy']}) | {r['pass_at_samples']:.1%} | {r['samples']} "
                    f"| {r['n_sampled']} | {r['sample_accuracy']:.1%} |")
    return "\n".join(rows)


def card_metadata(name: str, results: dict[str, dict] | None) -> dict:
    """The README's YAML front matter; the dev numbers (`measure_dev`'s) become a model-index."""
    metadata = {"license": LICENSE, "library_name": "transformers", "pipeline_tag": "text-generation",
                "language": ["en"], "tags": ["llama", "selfplay", "countdown", "arithmetic", "from-scratch"]}
    if results:
        entries = []
        for task, r in results.items():
            metrics = [{"type": "accuracy", "name": "greedy accuracy", "value": r["greedy"]}]
            if r["samples"]:
                metrics.append({"type": f"pass@{r['samples']}", "name": f"pass@{r['samples']} at temperature 1.0",
                                "value": r["pass_at_samples"]})
            entries.append({"task": {"type": "text-generation"},
                            "dataset": {"type": f"selfplay/{task}", "name": f"selfplay {task} dev", "split": "dev"},
                            "metrics": metrics})
        metadata["model-index"] = [{"name": name, "results": entries}]
    return metadata


def front_matter(metadata: dict) -> str:
    """`---`-fenced YAML, the block a model card starts with."""
    return f"---\n{yaml.safe_dump(metadata, sort_keys=False)}---\n\n"


def set_generation_defaults(model_dir: str | Path) -> None:
    """Greedy answers of at most `ANSWER_TOKENS` in generation_config.json (more where the model
    declares longer answers in `selfplay_pricing`), and the tokenizer's
    `model_max_length` set to the model's `max_position_embeddings` (both read from the directory)."""
    from transformers import GenerationConfig

    model_dir = Path(model_dir)
    generation = GenerationConfig.from_pretrained(model_dir)
    model_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    generation.update(do_sample=False, max_new_tokens=answer_cap(model_config.get("selfplay_pricing") or {}))
    generation.save_pretrained(model_dir)
    positions = model_config["max_position_embeddings"]
    path = model_dir / "tokenizer_config.json"
    tokenizer_config = {**json.loads(path.read_text(encoding="utf-8")), "model_max_length": positions}
    write_text(path, json.dumps(tokenizer_config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def render_card(result, config, command: str, results: dict[str, dict] | None, eval_command: str,
                stability: dict | None = None) -> str:
    """The README.md of a pretrained model directory."""
    corpus = result.corpus
    mix = ", ".join(f"{task} {c['traces']} ({', '.join(f'{k} {n}' for k, n in c['kinds'].items())})"
                    for task, c in corpus["tasks"].items())
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    speed = [entry["tokens_per_s"] for entry in result.log_history if "tokens_per_s" in entry]
    shape = config.model
    budget = " (stopped by the time budget)" if result.stopped_by_budget else ""
    speed = speed[-1] if speed else 0.0
    first_loss, last_loss = (losses[0], losses[-1]) if losses else (float("nan"), float("nan"))
    evaluation = (f"Measured with `{eval_command}` (greedy = one greedy answer; pass@k = solved by at least one of "
                  f"k samples at temperature 1.0, no top-k/top-p; funcs pass@k on the first {config.eval_funcs_limit} "
                  f"dev problems only, since its grader runs code):\n\n{_eval_table(results)}"
                  if results else "Not measured (`evaluate: false`).")
    return front_matter(card_metadata(f"selfplay-{Path(result.out).name}", results)) + f"""# selfplay base model

A small `LlamaForCausalLM` pretrained from scratch on CPU by the selfplay lab, for its built-in tasks
(countdown, arith, funcs). It answers in the built-in format: the problem prompt and a newline, then
the solution one step per line, then EOS. It is meant to be *imperfect*: often wrong greedily, often
right somewhere among many samples, which is what search and self-improvement need.

Load it with `AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`
(a character-level tokenizer that prepends `<bos>`).{_tools_paragraph(config)} `generate` answers greedily, at most
{_answer_tokens(config)} new tokens, by default (`generation_config.json`); prompt and answer must fit in
{shape.max_positions} positions.

## How it was made

- Command: `{command}`
- Seed: {config.seed}; the resolved config is in `pretrain.yaml`.
- Architecture: {shape.layers} layers, hidden {shape.hidden_size}, {shape.heads} heads, MLP {shape.intermediate_size}, tied embeddings,
  {shape.max_positions} positions: **{result.parameters:,} parameters**.
- Corpus: {corpus['traces']:,} traces from the TRAIN splits only (ids and content checked against dev and test):
  {mix}. Deliberate-mistake share {corpus['mistake_share']:.0%}; every flawed trace fails the grader.{_family_sentences(config, "corpus")}
- Training: HF `Trainer`, loss on the completion only, AdamW at lr {config.learning_rate} (cosine, {config.warmup:.0%} warmup),
  weight decay {config.weight_decay}, batch {config.batch_size}, fp32, {config.threads} CPU thread(s): {result.steps} steps{budget},
  {result.tokens:,} training tokens (non-padding), {result.wall_s:.0f} s ({speed:,.0f} tokens/s),
  loss {first_loss:.3f} at the first log, {last_loss:.3f} at the last.

## Dev numbers

{evaluation}
{_stability_section(stability)}"""


def answer_cap(pricing: dict) -> int:
    """`generate`'s default answer cap: `ANSWER_TOKENS`, or the longest answer the model declares
    (`selfplay_pricing`, task -> `Pricing` fields) where that is longer.

    >>> answer_cap({}), answer_cap({"countdown": {"answer_tokens": 432}})
    (256, 432)
    """
    return max([ANSWER_TOKENS, *(int(prices.get("answer_tokens", 0)) for prices in pricing.values())])


def _answer_tokens(config) -> int:
    return answer_cap(model_declarations(config.corpus, config.model.max_positions).get("selfplay_pricing", {}))


def _family_sentences(config, place: str) -> str:
    """The corpus families' own sentences for one place in the card (their recipes' `card` hooks)."""
    return "".join(recipe_of(task).card(config.corpus, config.model.max_positions).get(place, "")
                   for task in corpus_tasks() if recipe_of(task).card is not None)


def _tools_paragraph(config) -> str:
    if not config.corpus.calculator:
        return ""
    return ("\n\nIt was taught to do arithmetic through a calculator: every computation is a call, `<<25-5=`, and"
            "\nthe tool writes the result, `20>>` (the results were left out of its training loss). The config"
            "\ndeclares it (`selfplay_tools: [calculator]`), so `Policy.from_pretrained` and `lab eval` switch the"
            "\ncalculator on; plain `generate` has no tool and must write results itself, which it was not taught."
            + _family_sentences(config, "calculator")
            + "\nIts mistakes are choices (which numbers, which operation, when to stop), not false arithmetic."
            "\nIt was pretrained on the easy countdown level only (each number at most once, targets to 100);"
            "\nthe hard split below (the standard game, every number used exactly once, targets to 200) is what"
            "\nthe improvement rounds climb.")


def stability_verdict(stability: dict | list[dict]) -> dict:
    """The stability check's figures: one `expert_control.py` summary, or several draws of expert rows
    (`--seed`) judged on their mean; the limit is a fall of at most 2 points.

    >>> draws = [{"greedy_before": 0.455, "greedy_after": after} for after in (0.42, 0.44, 0.455)]
    >>> stability_verdict(draws)
    {'draws': 3, 'before': 0.455, 'after': [0.42, 0.44, 0.455], 'mean_fall': 0.0167, 'met': True}
    """
    draws = stability if isinstance(stability, list) else [stability]
    before = draws[0]["greedy_before"]
    if any(draw["greedy_before"] != before for draw in draws):
        raise ValueError("stability draws measured different base models (greedy_before differs)")
    after = [draw["greedy_after"] for draw in draws]
    fall = before - sum(after) / len(after)
    return {"draws": len(draws), "before": before, "after": after, "mean_fall": round(fall, 4),
            "met": fall <= 0.02 + 1e-9}


def _stability_section(stability: dict | list[dict] | None) -> str:
    if not stability:
        return ""
    verdict = stability_verdict(stability)
    draws = stability if isinstance(stability, list) else [stability]
    first = draws[0]
    head = (f"\n## Stability check\n\nOne epoch of the rounds' LoRA finetuning (`sft` of the preset named in the "
            f"command) on {first['expert_rows']:,} solver-written\nsolutions of easy train problems")
    limit = f"the limit is a fall of at most 2 points{' on the mean' if len(draws) > 1 else ''}: " \
            f"{'met' if verdict['met'] else 'NOT met'}"
    if len(draws) == 1:
        return (f"{head}: greedy easy-dev accuracy {first['greedy_before']:.1%} -> {first['greedy_after']:.1%} "
                f"({first['gained']} gained, {first['lost']} lost, sign test p {first['sign_test_p']:.2f};\n"
                f"{limit}). Measured with `{first['command']}`.\n")
    lines = "\n".join(f"| {draw.get('seed', 0)} | {draw['greedy_before']:.1%} -> {draw['greedy_after']:.1%} "
                       f"| {draw['gained']} / {draw['lost']} | {draw['sign_test_p']:.2f} |" for draw in draws)
    return (f"{head}, {len(draws)} draws of the solutions (`--seed`): greedy easy-dev accuracy "
            f"{verdict['before']:.1%} -> {sum(verdict['after']) / len(draws):.1%} on the mean, a fall of "
            f"{verdict['mean_fall'] * 100:.1f} points ({limit}).\n\n"
            f"| seed | greedy easy dev | gained / lost | sign test p |\n|---|---|---|---|\n{lines}\n\n"
            f"Measured with `{first['command']}` (and the other seeds).\n")


def finish(result, config, command: str) -> dict[str, dict] | None:
    """Set the generation defaults, measure (if the config says so), write eval.json, pretrain.yaml, README.md."""
    out = Path(result.out)
    set_generation_defaults(out)
    eval_command = f"python -m selfplay.commands.card --model {out} --samples {config.eval_samples} " \
                   f"--funcs-limit {config.eval_funcs_limit} --seed {config.seed}"
    results = measure_dev(out, config.eval_samples, config.eval_funcs_limit, config.seed,
                          threads=config.threads, tasks=config.corpus.task_mix) if config.evaluate else None
    write_text(out / "pretrain.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    speed = [entry["tokens_per_s"] for entry in result.log_history if "tokens_per_s" in entry]
    if results is not None:
        record = {"command": eval_command, "pretrain_command": command, "tasks": results,
                  "training": {"parameters": result.parameters, "steps": result.steps, "tokens": result.tokens,
                               "wall_s": result.wall_s, "stopped_by_budget": result.stopped_by_budget,
                               "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
                               "tokens_per_s": speed[-1] if speed else None}}
        write_text(out / "eval.json", json.dumps(record, indent=2) + "\n")
    write_text(out / "README.md", render_card(result, config, command, results, eval_command))
    return results


def refresh(model_dir: str | Path, samples: int, funcs_limit: int, seed: int, stability_files: list[str] | None,
            measure: bool = True) -> dict:
    """Rewrite a pretrained model directory's eval.json and README.md (weights untouched), re-measuring
    the dev numbers unless `measure` is False (then eval.json's are kept); `stability_files`:
    `benchmarks/expert_control.py --out` summaries (with their `command`), one per draw of expert rows,
    to report as the stability check (several are judged on their mean)."""
    from types import SimpleNamespace

    from selfplay.builtin_model.corpus import build_corpus, summarize
    from selfplay.builtin_model.pretrain_config import load_recipe

    out = Path(model_dir)
    config = load_recipe(out / "pretrain.yaml")
    old = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    training = old["training"]
    log = [{"loss": training["first_loss"]}, {"loss": training["last_loss"], "tokens_per_s": training["tokens_per_s"]}]
    result = SimpleNamespace(out=out, parameters=training["parameters"], steps=training["steps"],
                             tokens=training["tokens"], wall_s=training["wall_s"],
                             stopped_by_budget=training["stopped_by_budget"], log_history=log,
                             corpus=summarize(build_corpus(config.corpus, seed=config.seed)))
    set_generation_defaults(out)
    eval_command = f"python -m selfplay.commands.card --model {model_dir} --samples {samples} " \
                   f"--funcs-limit {funcs_limit} --seed {seed}"
    results = measure_dev(out, samples, funcs_limit, seed, tasks=config.corpus.task_mix) if measure else old["tasks"]
    if not measure:
        eval_command = old["command"]
    stability = old.get("stability")
    if stability_files:
        draws = [json.loads(Path(name).read_text(encoding="utf-8")) for name in stability_files]
        stability = draws if len(draws) > 1 else draws[0]
        stability_verdict(stability)  # draws of one base model
    record = {**old, "command": eval_command, "tasks": results}
    if stability:
        record["stability"] = stability
    write_text(out / "eval.json", json.dumps(record, indent=2) + "\n")
    write_text(out / "README.md", render_card(result, config, old.get("pretrain_command", "python -m jobs.pretrain"),
                                                results, eval_command, stability))
    return results

"""The learning benchmark: do the rounds make the policy better on problems it was never taught?

Runs (or continues) an improvement run of a preset, then measures every round's policy (round 0
is the base model) on a held-out TEST split harder than anything the base model was pretrained
on (default: the standard countdown game, every number used once, 3 and 4 numbers from 1-20,
targets to 200: `datasets/countdown/hard/test.jsonl`), answering fast (greedy, answers up to the
preset's `eval.max_new_tokens`) and deliberately (the preset's eval search, MCTS x8 by default).
Beside it, the run's own easy dev figures and greedy answers on the whole easy dev file (the
easy-dev goal is judged there: the run measures only its first `eval.limit` problems). Per
round: accuracies, problems gained and lost against the base model on the hard split (greedy
answers, problem by problem) with a two-sided sign test, and the elapsed time. Fast answers are
also measured on the 1,000 problems of `datasets/countdown/hard/test-large.jsonl` (the 200 test
problems and 800 more of the same levels; `--fast-test`), where a sign test can see a change of a
few points; deliberate answers (a search per problem) stay on the 200: every round on the first
`--limit` of them, and the base model and the last round on all of them, where the deliberate goal is
judged (OUT/test-all-round-K.json). Goals (issue
targets): hard fast +15 points with p < 0.01 (`--fast-goal`: the code world's asks +10), hard
deliberate +10 points, easy dev fast down by at most 3 points, the run within 30 minutes; stretch:
hard fast reaches the base model's MCTS x32.

    python benchmarks/learning.py                                # default preset, an actor per core
    python benchmarks/learning.py --preset smoke --out /tmp/learn-smoke --workers 0 --limit 20
    python benchmarks/learning.py --preset arith --out /tmp/learn-words   # word problems: arith's hard split,
                                              # and per round the learned judge (benchmarks/words.py)

Rerunning with the same --out continues the run and reuses every cached measurement
(OUT/test-round-K.json, OUT/test-fast-round-K.json, OUT/fast-test-round-K.json, OUT/easy-dev-round-K.json,
OUT/reference.json). Writes OUT/learning.json and OUT/learning.png.
Tune on dev splits; this reports on test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from selfplay.runfiles import rundir  # noqa: E402
from selfplay.commands.improve import run_rounds, workers_count  # noqa: E402
from selfplay.runfiles.runconfig import load_config  # noqa: E402

GOAL_ROUNDS = 3
# A preset's task (its first curriculum level's folder) -> its hard test split and its large test.
HARD_TESTS = {"countdown": ("datasets/countdown/hard/test.jsonl", "datasets/countdown/hard/test-large.jsonl"),
              "arith": ("datasets/arith/hard/test.jsonl", "datasets/arith/hard/test-large.jsonl")}
GOAL_MINUTES = 30


def preset_task(config) -> str:
    """The task a preset trains on, read from its first training file's path.

    >>> from types import SimpleNamespace as S
    >>> preset_task(S(curriculum=S(levels=("datasets/arith/train.jsonl",)), train_files={}))
    'arith'
    """
    files = list(config.curriculum.levels) or list(config.train_files)
    parts = Path(files[0]).parts if files else ()
    return parts[parts.index("datasets") + 1] if "datasets" in parts[:-1] else "countdown"


def test_problems(path: str, limit: int):
    from selfplay.runfiles.runconfig import resolve_path
    from selfplay.tasks import load_problems
    problems = load_problems(resolve_path(path))
    return problems[:limit] if limit else problems


def model_search_settings(config) -> dict:
    """The search settings the preset's model declares (its config.json's `selfplay_search`): part of
    what a deliberate measurement means, so part of its cache key."""
    from selfplay.runfiles.runconfig import resolve_path
    model = getattr(config, "model", None)  # a config made by hand may name none
    path = None if model is None else Path(resolve_path(model)) / "config.json"
    if path is None or not path.is_file():  # not a model directory here: loading it fails, not this
        return {}
    return json.loads(path.read_text()).get("selfplay_search") or {}


def deliberate_key(config) -> list:
    """What a deliberate measurement depends on beyond the problems and the adapter."""
    return [config.eval.strategy, config.eval.budget, model_search_settings(config)]


def grader():
    """The grader of record, remembering each program's verdict per problem across rounds and strategies
    (one `GradeMeter` for the whole benchmark): consecutive rounds often write the same program, and
    running it in the sandbox again would give the same verdict. Answers that are not programs are
    graded as they come."""
    from selfplay.loop.grade_meter import GradeMeter
    global GRADER
    GRADER = GRADER or GradeMeter()
    return GRADER


GRADER = None


def measure(policy, problems, strategy: str, budget: int, seed: int, max_new_tokens: int = 256) -> dict:
    """`max_new_tokens` caps greedy answers (a search prices its own answers)."""
    from selfplay.answering.evaluate import evaluate
    result = evaluate(policy, problems, strategy, budget, seed, max_new_tokens=max_new_tokens, progress=True,
                      grader=grader().grade)
    return {"strategy": strategy, "budget": budget, "n": result.n, "accuracy": result.accuracy,
            "tokens": result.tokens, "wall_s": round(result.wall_s, 1),
            "solved": sorted(o.id for o in result.problems if o.solved)}


def cached(path: Path, key: dict, compute) -> dict:
    """`compute()` once per `key`, kept in `path` so a rerun reads it back."""
    if path.is_file():
        data = rundir.read_json(path)
        if data.get("key") == key:
            return data
    data = {"key": key, **compute()}
    rundir.write_json(path, data)
    return data


class RoundPolicy:
    """The base model, loaded once on first use, wearing a round's adapter (none for round 0)."""

    def __init__(self, config):
        self.config, self.policy = config, None

    def wearing(self, adapter: str | None):
        from selfplay.model.policy import Policy

        self.policy = self.policy or Policy.from_pretrained(str(self.config.path(self.config.model)))
        self.policy.load_adapter(adapter) if adapter else self.policy.unload_adapter()
        return self.policy


def per_round(results, out: Path, stem: str, key: dict, policies: RoundPolicy, compute) -> list[dict]:
    """`compute(policy, round)` for every round's policy, cached in OUT/<stem>-round-K.json under
    `key` and the round's adapter."""
    measured = []
    for result in results:
        adapter = result.get("adapter") if result["round"] else None
        measured.append(cached(out / f"{stem}-round-{result['round']}.json", {**key, "adapter": adapter},
                               lambda: compute(policies.wearing(adapter), result["round"])))
    return measured


def fast_rounds(config, results, out: Path, test_file: str, policies: RoundPolicy, console: Console,
                stem: str = "fast-test", limit: int = 0) -> list[dict]:
    """Per round, greedy results (answers up to the preset's `eval.max_new_tokens`) on the first `limit`
    problems of `test_file` (0: all; the large hard test, the whole easy dev file with `stem="easy-dev"`),
    cached in OUT/<stem>-round-K.json."""
    problems = test_problems(test_file, limit)
    cap = config.eval.max_new_tokens

    def compute(policy, round_index: int) -> dict:
        console.print(f"round {round_index}: {len(problems)} problems of {test_file}, greedy")
        return {"fast": measure(policy, problems, "greedy", 1, config.seed, cap)}
    return per_round(results, out, stem, {"test": test_file, "n": len(problems), "max_new_tokens": cap}, policies,
                     compute)


def test_rounds(config, results, out: Path, test_file: str, limit: int, ref_budget: int, policies: RoundPolicy,
                console: Console):
    """Per round, fast and deliberate results on the test problems (and the base model's reference)."""
    problems = test_problems(test_file, limit)
    search = deliberate_key(config)

    def compute(policy, round_index: int) -> dict:
        console.print(f"round {round_index}: {len(problems)} test problems, {search[0]} x{search[1]}")
        return {"deliberate": measure(policy, problems, config.eval.strategy, config.eval.budget, config.seed)}
    deliberate = per_round(results, out, "test", {"test": test_file, "n": len(problems), "eval": search}, policies,
                           compute)
    fast = fast_rounds(config, results, out, test_file, policies, console, stem="test-fast", limit=limit)
    measured = [{"fast": f["fast"], "deliberate": d["deliberate"]} for f, d in zip(fast, deliberate)]

    def reference_now():
        console.print(f"reference: base model, {search[0]} x{ref_budget} on {len(problems)} test problems")
        return measure(policies.wearing(None), problems, config.eval.strategy, ref_budget, config.seed)
    ref = cached(out / "reference.json", {"test": test_file, "n": len(problems), "budget": ref_budget,
                                          "search": search[2]}, reference_now)
    return measured, ref, len(problems)


def whole_test_deliberate(config, results, out: Path, test_file: str, policies: RoundPolicy,
                          console: Console) -> dict:
    """Deliberate results on every problem of `test_file` for the base model and the last round only (the
    per-round figures may use the first `--limit`), with problems gained and lost and the sign test; cached
    in OUT/test-all-round-K.json."""
    problems = test_problems(test_file, 0)
    search = deliberate_key(config)

    def compute(policy, round_index: int) -> dict:
        console.print(f"round {round_index}: all {len(problems)} test problems, {search[0]} x{search[1]}")
        return {"deliberate": measure(policy, problems, config.eval.strategy, config.eval.budget, config.seed)}
    ends = [results[0], results[-1]] if len(results) > 1 else results[:1]
    measured = [m["deliberate"] for m in per_round(ends, out, "test-all", {"test": test_file, "n": len(problems),
                                                                          "eval": search}, policies, compute)]
    base, last = measured[0], measured[-1]
    return {"n": len(problems), "rounds": [results[0]["round"], results[-1]["round"]],
            "accuracy": [round(base["accuracy"], 4), round(last["accuracy"], 4)],
            **changes(set(base["solved"]), set(last["solved"]))}


def changes(base: set[str], now: set[str]) -> dict:
    """Problems solved now and not by the base model (gained), the reverse (lost), and the sign test.

    >>> changes({"a", "b"}, {"b", "c", "d"})
    {'gained': 2, 'lost': 1, 'sign_test_p': 1.0}
    """
    gained, lost = len(now - base), len(base - now)
    return {"gained": gained, "lost": lost, "sign_test_p": significant(sign_test(gained, lost))}


def rows_of(results: list[dict], measured: list[dict], easy_dev: str, large: list[dict] | None = None,
            easy_all: list[dict] | None = None) -> list[dict]:
    rows, elapsed = [], 0.0
    base_fast = set(measured[0]["fast"]["solved"])
    base_large = set(large[0]["fast"]["solved"]) if large else set()
    for index, (result, test) in enumerate(zip(results, measured)):
        elapsed += result.get("wall_s", 0.0)
        evaluation = result.get("eval") or {}
        easy = (evaluation.get("splits") or {}).get(easy_dev) or {}
        rows.append({"round": result["round"],
                     "hard_fast": test["fast"]["accuracy"], "hard_deliberate": test["deliberate"]["accuracy"],
                     "easy_fast": easy.get("fast"), "easy_deliberate": easy.get("deliberate"),
                     **changes(base_fast, set(test["fast"]["solved"])),
                     "levels": (result.get("curriculum") or {}).get("levels"),
                     "solved": (result.get("selection") or {}).get("problems_solved"),
                     "sft_rows": (result.get("selection") or {}).get("sft_rows"),
                     "solved_at_attempt_ends": (result.get("selection") or {}).get("solved_at_attempt_ends"),
                     "hindsight_rows": (result.get("selection") or {}).get("hindsight_rows"),
                     "wall_s": round(result.get("wall_s", 0.0), 1), "elapsed_min": round(elapsed / 60, 2)})
        if easy_all:  # greedy on the whole easy dev file, beside the run's own first `eval.limit` problems
            rows[-1]["easy_fast_all"] = easy_all[index]["fast"]["accuracy"]
        if large:
            rows[-1]["hard_fast_large"] = large[index]["fast"]["accuracy"]
            rows[-1].update({f"{name}_large": value
                             for name, value in changes(base_large, set(large[index]["fast"]["solved"])).items()})
    return rows


def significant(p: float) -> float:
    """A p-value to 3 significant digits (a 5-decimal rounding would write 2e-7 as 0).

    >>> significant(0.000215671), significant(1.0)
    (0.000216, 1.0)
    """
    return float(f"{p:.3g}")


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact binomial p-value of `gained` vs `lost` under "each flip is a coin toss".

    >>> sign_test(0, 0), round(sign_test(8, 15), 3), round(sign_test(0, 10), 4)
    (1.0, 0.21, 0.002)
    """
    from math import comb
    flips = gained + lost
    if flips == 0:
        return 1.0
    tail = sum(comb(flips, k) for k in range(min(gained, lost) + 1)) / 2 ** flips
    return min(1.0, 2 * tail)


def greedy_answers(policy, problems, max_new_tokens: int, batch: int = 16) -> list[tuple[str, bool]]:
    """(greedy answer text, verified) per problem."""
    from selfplay.answering.grading import grade

    texts = []
    for first in range(0, len(problems), batch):
        chunk = problems[first:first + batch]
        completions = policy.complete([policy.render_prompt(problem) for problem in chunk], 1, temperature=0.0,
                                      max_new_tokens=max_new_tokens)
        texts.extend(options[0].text for options in completions)
    return [(text, grade(problem, text).passed) for problem, text in zip(problems, texts)]


def answer_changes(base: list[tuple[str, bool]], now: list[tuple[str, bool]]) -> dict:
    """Answers unchanged, problems gained and lost from `base` to `now`, and the sign test of gained vs lost.

    >>> answer_changes([("a", True), ("b", False), ("c", False)], [("a", True), ("d", True), ("e", False)])
    {'unchanged_answers': 1, 'gained': 1, 'lost': 0, 'sign_test_p': 1.0}
    """
    gained = sum(passed and not was for (_, was), (_, passed) in zip(base, now))
    lost = sum(was and not passed for (_, was), (_, passed) in zip(base, now))
    return {"unchanged_answers": sum(old == new for (old, _), (new, _) in zip(base, now)),
            "gained": gained, "lost": lost, "sign_test_p": round(sign_test(gained, lost), 4)}


def easy_fast_key(rows: list[dict]) -> str:
    """The easy dev fast figure to judge and plot: greedy on the whole file when every row has it."""
    return "easy_fast_all" if all("easy_fast_all" in row for row in rows) else "easy_fast"


def verdicts(rows: list[dict], ref: dict, whole: dict | None = None, fast_goal: float = 0.15) -> dict:
    """The issue's goals for the last round. The fast-accuracy goal is judged on the large hard test
    when it was measured (its sign test has the power to see a few points), else on the hard test; the
    deliberate goal on the whole hard test when `whole` (`whole_test_deliberate`) measured it there."""
    base, last = rows[0], rows[-1]
    easy = easy_fast_key(rows)
    pick = lambda row, key: None if row.get(key) is None else round(row[key], 4)  # noqa: E731
    drop = None if base[easy] is None or last[easy] is None else base[easy] - last[easy]
    fast, p = ("hard_fast_large", "sign_test_p_large") if "hard_fast_large" in last else ("hard_fast", "sign_test_p")
    return {"rounds": last["round"],
            "hard_fast": [pick(base, "hard_fast"), pick(last, "hard_fast")],
            "hard_fast_large": [pick(base, "hard_fast_large"), pick(last, "hard_fast_large")],
            "hard_fast_judged_on": fast, "hard_fast_sign_test_p": last[p],
            f"hard_fast_gain_{round(100 * fast_goal)}_points_p_below_0.01":
                last[fast] - base[fast] >= fast_goal - 1e-9 and last[p] < 0.01,
            "hard_deliberate": [pick(base, "hard_deliberate"), pick(last, "hard_deliberate")],
            "hard_deliberate_all": whole["accuracy"] if whole else None,
            "hard_deliberate_judged_on": f"all {whole['n']} test problems" if whole else "the per-round problems",
            "hard_deliberate_sign_test_p": whole["sign_test_p"] if whole else None,
            "hard_deliberate_gain_10_points": (whole["accuracy"][1] - whole["accuracy"][0] if whole else
                                               last["hard_deliberate"] - base["hard_deliberate"]) >= 0.10 - 1e-9,
            "easy_fast": [pick(base, easy), pick(last, easy)], "easy_fast_judged_on": easy,
            "easy_fast_drop_at_most_3_points": None if drop is None else drop <= 0.03 + 1e-9,
            "minutes": last["elapsed_min"], "within_30_minutes": last["elapsed_min"] <= GOAL_MINUTES,
            "reference": f"base {ref['strategy']} x{ref['budget']} = {ref['accuracy']:.3f}",
            "stretch_fast_reaches_reference": last["hard_fast"] >= ref["accuracy"]}


def plot(rows: list[dict], ref: dict, path: Path, title: str, whole: dict | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [row["round"] for row in rows]
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    axis.plot(rounds, [row["hard_fast"] for row in rows], "o-", color="C0", label="hard test, fast (greedy)")
    if all("hard_fast_large" in row for row in rows):
        axis.plot(rounds, [row["hard_fast_large"] for row in rows], "^-", color="C2",
                  label="large hard test, fast")
    axis.plot(rounds, [row["hard_deliberate"] for row in rows], "s-", color="C1", label="hard test, deliberate")
    if whole:
        axis.plot(whole["rounds"], whole["accuracy"], "D", color="C3", markerfacecolor="none", markersize=8,
                  label=f"all {whole['n']} hard test problems, deliberate")
    easy = easy_fast_key(rows)
    if all(row[easy] is not None for row in rows):
        axis.plot(rounds, [row[easy] for row in rows], "o--", color="C0", alpha=0.5, label="easy dev, fast")
        axis.plot(rounds, [row["easy_deliberate"] for row in rows], "s--", color="C1", alpha=0.5,
                  label="easy dev, deliberate")
    axis.axhline(ref["accuracy"], color="gray", linestyle=":", label=f"base model, {ref['strategy']} x{ref['budget']}")
    axis.set_xlabel("round (0 = base model)")
    axis.set_ylabel("accuracy")
    axis.set_xticks(rounds)
    axis.set_ylim(0, 1)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(loc="center right", bbox_to_anchor=(1.0, 0.58), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def table(rows: list[dict], n: int, n_large: int = 0) -> Table:
    large = f"; large = the {n_large}-problem hard test, greedy" if n_large else ""
    out = Table(title=f"per round: hard test ({n} problems) and easy dev accuracy; gained/lost = hard-test greedy "
                      f"answers against the base model's{large}")
    columns = ["round", "hard fast", "hard delib.", "easy fast", "easy delib.", "gained", "lost", "sign p"]
    if any("easy_fast_all" in row for row in rows):
        columns.insert(4, "easy fast (all)")
    if n_large:
        columns += ["large fast", "gained", "lost", "sign p"]
    for column in columns + ["levels", "solved", "sft rows", "elapsed min"]:
        out.add_column(column, justify="right")
    show = lambda value: "-" if value is None else f"{value:.3f}"  # noqa: E731
    for row in rows:
        levels = " ".join(f"{Path(name).parent.name}:{count}" for name, count in (row["levels"] or {}).items())
        cells = [str(row["round"]), show(row["hard_fast"]), show(row["hard_deliberate"]), show(row["easy_fast"]),
                 show(row["easy_deliberate"]), str(row["gained"]), str(row["lost"]), f"{row['sign_test_p']:.2g}"]
        if "easy_fast_all" in row:
            cells.insert(4, show(row["easy_fast_all"]))
        if n_large:
            cells += [show(row["hard_fast_large"]), str(row["gained_large"]), str(row["lost_large"]),
                      f"{row['sign_test_p_large']:.2g}"]
        solved = "-" if row["solved"] is None else str(row["solved"])
        if row.get("solved_at_attempt_ends"):  # problems only an abandoned passing attempt solved
            solved += f" +{row['solved_at_attempt_ends']}"
        sft_rows = "-" if row["sft_rows"] is None else str(row["sft_rows"])
        if row.get("hindsight_rows"):  # of them, relabeled answers (selection rule 6)
            sft_rows += f" (h {row['hindsight_rows']})"
        out.add_row(*cells, levels or "-", solved, sft_rows, f"{row['elapsed_min']:.1f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", default=str(Path.home() / "selfplay-runs" / "learning-benchmark"))
    parser.add_argument("--workers", type=workers_count, metavar="N|auto",
                        help="Ray actors for sampling (default: the preset's; 0: in this process)")
    parser.add_argument("--rounds", type=int, help="rounds (default: the preset's)")
    parser.add_argument("--test", help="the held-out hard split (default: the preset task's hard test, HARD_TESTS)")
    parser.add_argument("--fast-test", help="a larger held-out file for greedy answers and their sign test ('' for "
                                            "none; default: the preset task's large hard test)")
    parser.add_argument("--easy-dev", help="the easy dev file among the preset's dev_files (default: the first)")
    parser.add_argument("--limit", type=int, default=0, help="test problems (the first N; 0: all)")
    parser.add_argument("--reference-budget", type=int, default=32)
    parser.add_argument("--fast-limit", type=int, default=0, help="--fast-test problems (the first N; 0: all)")
    parser.add_argument("--no-whole", action="store_true",
                        help="judge the deliberate goal on the --limit problems, not on every test problem")
    parser.add_argument("--fast-goal", type=float, default=0.15,
                        help="the hard fast gain the goal asks for (countdown 0.15; code, configs/code.yaml: 0.10)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from selfplay.commands.improve import quiet_libraries

    quiet_libraries()
    out = Path(args.out).resolve()
    overrides = [f"out={json.dumps(str(out))}", *args.overrides]
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    if args.rounds is not None:
        overrides.append(f"rounds={args.rounds}")
    config = load_config(args.preset, overrides)
    hard_test, hard_large = HARD_TESTS[preset_task(config)]
    args.test = args.test or hard_test
    args.fast_test = hard_large if args.fast_test is None else args.fast_test
    console = Console()
    start = time.perf_counter()
    results = run_rounds(config, console)
    run_wall = time.perf_counter() - start
    policies = RoundPolicy(config)
    measured, ref, n = test_rounds(config, results, out, args.test, args.limit, args.reference_budget, policies,
                                   console)
    large = fast_rounds(config, results, out, args.fast_test, policies, console,
                        limit=args.fast_limit) if args.fast_test else None
    n_large = large[0]["fast"]["n"] if large else 0
    easy_dev = args.easy_dev or config.dev_files[0]
    easy_all = fast_rounds(config, results, out, easy_dev, policies, console, stem="easy-dev")
    whole = None
    if n < len(test_problems(args.test, 0)) and not args.no_whole:  # the deliberate goal, on every test problem
        whole = whole_test_deliberate(config, results, out, args.test, policies, console)
    rows = rows_of(results, measured, easy_dev, large, easy_all)
    scorer = None
    if preset_task(config) == "arith":  # word problems: the learned judge against majority vote
        from benchmarks.words import plot as plot_scorer, scorer_rounds, word_goals
        scorer = scorer_rounds(config, results, out, args.test, policies, console)
        judged_n = scorer[0]["n"] if scorer else 0
        plot_scorer(scorer, out / "scorer.png", f"{args.preset}: the learned judge on {judged_n} hard test problems")
        scorer = {"rounds": scorer, "goals": word_goals(rows, scorer)}
    summary = {"preset": args.preset, "workers": config.workers, "out": str(out), "test": args.test,
               "test_problems": n, "fast_test": args.fast_test or None, "fast_test_problems": n_large,
               "easy_dev": easy_dev, "dev_problems_per_file": config.eval.limit,
               "easy_dev_fast_problems": easy_all[0]["fast"]["n"],
               "sampling": {"strategy": config.sampling.strategy, "budget": config.sampling.budget,
                            "problems_per_round": config.problems_per_round},
               "eval": {"strategy": config.eval.strategy, "budget": config.eval.budget,
                        "model_search": model_search_settings(config)},
               "reference": {k: v for k, v in ref.items() if k != "solved"}, "rounds": rows,
               "hard_deliberate_all": whole, "goals": verdicts(rows, ref, whole, args.fast_goal), "scorer": scorer,
               "this_invocation_wall_s": round(run_wall, 1),
               "measurement_sandbox": None if GRADER is None else {"runs": GRADER.runs, "reused": GRADER.reused,
                                                                    "seconds": round(GRADER.seconds, 1)},
               "command": "python benchmarks/learning.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    rundir.write_json(out / "learning.json", summary)
    image = plot(rows, ref, out / "learning.png", f"{args.preset}: {Path(args.test).parent.name} test split, "
                                                  f"{n} problems", whole)
    console.print(table(rows, n, n_large))
    console.print_json(json.dumps(summary["goals"]))
    console.print(f"wrote {out / 'learning.json'} and {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

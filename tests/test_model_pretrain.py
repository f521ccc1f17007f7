"""The imitation corpus, the pretraining recipe and the committed base model."""
import dataclasses
import doctest
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfplay.answering.grading import grade
from selfplay.builtin_model import card, corpus
from selfplay.builtin_model.corpus import CorpusConfig, build_corpus, load_train_problems
from selfplay.builtin_model.pretrain import pretrain
from selfplay.commands.pretrain import main
from selfplay.builtin_model.pretrain_config import ModelShape, PretrainConfig, config_from_dict, load_recipe
from selfplay.tasks import load_problems
from verifiers.countdown import parse_step, step_error

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"
BASE = REPO / "models" / "base"
MIX = {"countdown": 0.6, "arith": 0.2, "funcs": 0.2}


@pytest.fixture(scope="module")
def mixed():
    return build_corpus(CorpusConfig(traces=300, task_mix=MIX, mistake_share=0.3), seed=0)


@pytest.fixture(scope="module")
def problems():
    return {p.id: p for task in MIX for p in load_problems(DATASETS / task / "train.jsonl")}


def test_corpus_doctests():
    assert doctest.testmod(corpus).failed == 0


def test_corpus_is_deterministic_in_the_seed(mixed):
    config = CorpusConfig(traces=300, task_mix=MIX, mistake_share=0.3)
    assert build_corpus(config, seed=0) == mixed
    assert build_corpus(config, seed=1) != mixed


def test_corpus_uses_train_problems_only(mixed, problems):
    held_out = {p.id for task in MIX for split in ("dev", "test") for p in load_problems(DATASETS / task / f"{split}.jsonl")}
    assert {t.problem_id for t in mixed} <= set(problems)
    assert not {t.problem_id for t in mixed} & held_out
    assert all(t.prompt == problems[t.problem_id].prompt + "\n" for t in mixed)


def test_corpus_refuses_dev_and_test_files_and_leaks(tmp_path):
    with pytest.raises(ValueError, match="train splits only"):
        load_train_problems(DATASETS / "countdown" / "dev.jsonl")
    shutil.copy(DATASETS / "countdown" / "dev.jsonl", tmp_path / "dev.jsonl")
    lines = (DATASETS / "countdown" / "train.jsonl").read_text().splitlines()[:50]
    leaked = (DATASETS / "countdown" / "dev.jsonl").read_text().splitlines()[:1]
    (tmp_path / "train.jsonl").write_text("\n".join(lines + leaked) + "\n")
    with pytest.raises(ValueError, match="also in dev/test"):
        load_train_problems(tmp_path / "train.jsonl")


@pytest.mark.parametrize("calculator", [True, False])
def test_mistake_share_is_met_and_every_flawed_trace_fails(calculator, problems):
    config = CorpusConfig(traces=300, task_mix=MIX, mistake_share=0.3, calculator=calculator)
    mixed = build_corpus(config, seed=0)
    counts = corpus.split_counts(300, MIX)
    for task, count in counts.items():
        traces = [t for t in mixed if t.task == task]
        verdicts = [grade(problems[t.problem_id], t.completion).passed for t in traces]
        assert len(traces) == count
        assert sum(not passed for passed in verdicts) == (round(0.3 * count) if config.mistakes(task) else 0), task
        assert all(passed == (t.kind == "expert") for t, passed in zip(traces, verdicts)), task
        assert {t.kind for t in traces} == {"expert", *config.mistakes(task)}, task
    # With the calculator no trace writes false arithmetic: the mistakes left are choices.
    assert ("wrong_step" in {t.kind for t in mixed}) == (not calculator)


def test_calculator_traces_mark_every_result_as_tool_output_and_pretraining_masks_it(mixed):
    from selfplay.builtin_model.pretrain import IGNORE_INDEX, tokenize_traces
    from selfplay.builtin_model.tokenizer import build_tokenizer
    countdown = [t for t in mixed if t.task == "countdown" and t.kind == "expert"]
    for trace in countdown[:20]:
        lines = trace.completion.split("\n")
        assert all(line.startswith("<<") and ">> [" in line and line.endswith("]") for line in lines)
        assert [trace.completion[a:b] for a, b in trace.tool_spans] == \
            [line.split("=")[1].split(">>")[0] + ">>" for line in lines]
    tokenizer = build_tokenizer()
    row = tokenize_traces(countdown[:1], tokenizer, 512)[0]
    trace = countdown[0]
    prompt_length = len(tokenizer(trace.prompt)["input_ids"])
    learned = "".join(tokenizer.decode([token]) for token, label in zip(row["input_ids"], row["labels"])
                      if label != IGNORE_INDEX and token != tokenizer.eos_token_id)
    kept, cursor = "", 0
    for start, end in trace.tool_spans:
        kept, cursor = kept + trace.completion[cursor:start], end
    assert learned == kept + trace.completion[cursor:]  # every character but the tool's output
    assert row["labels"][:prompt_length] == [IGNORE_INDEX] * prompt_length
    taught = tokenize_traces(countdown[:1], tokenizer, 512, learn_tool_output=True)[0]
    assert taught["input_ids"] == row["input_ids"]  # the same text; only what carries loss differs
    learned = "".join(tokenizer.decode([token]) for token, label in zip(taught["input_ids"], taught["labels"])
                      if label != IGNORE_INDEX and token != tokenizer.eos_token_id)
    assert learned == trace.completion and taught["labels"][:prompt_length] == [IGNORE_INDEX] * prompt_length


def test_dead_ends_are_true_steps_that_miss_the_target(problems):
    traces = build_corpus(CorpusConfig(traces=200, task_mix={"countdown": 1.0}, mistake_share=0.5), seed=3)
    dead_ends = [t for t in traces if t.kind == "dead_end"]
    assert len(dead_ends) >= 10
    for trace in dead_ends:
        steps = [parse_step(line) for line in trace.completion.split("\n")]
        assert all(step is not None and step_error(step) is None for step in steps)
        assert steps[-1].left_after is not None  # the scratchpad of numbers left, true as the grader checks
        assert steps[-1].result != problems[trace.problem_id].meta["target"]


def test_countdown_expert_traces_vary(problems):
    # 12,000 traces over the 4,000 train problems: most problems come up several times.
    traces = build_corpus(CorpusConfig(traces=12000, task_mix={"countdown": 1.0}, mistake_share=0.0), seed=0)
    by_problem: dict[str, set[str]] = {}
    for trace in traces:
        by_problem.setdefault(trace.problem_id, set()).add(trace.completion)
    assert sum(len(solutions) > 1 for solutions in by_problem.values()) >= 20
    assert all(grade(problems[t.problem_id], t.completion).passed for t in traces[:300])


def test_searching_traces_retry_after_dead_first_steps_and_pass_the_grader(problems):
    traces = build_corpus(CorpusConfig(traces=400, task_mix={"countdown": 1.0}, options={"countdown": {"search": 4}}), seed=1)
    experts = [t for t in traces if t.kind == "expert"]
    searching = [t for t in experts if "\nretry\n" in t.completion]
    assert len(searching) >= len(experts) // 3  # most easy problems have a dead first step in the fixed order
    for trace in experts:
        problem = problems[trace.problem_id]
        assert grade(problem, trace.completion).passed  # the verifier grades the last attempt
        parts = trace.completion.split("\nretry\n")
        assert len(parts) <= 5
        for part in parts[:-1]:  # an abandoned attempt is finished (one number left) and misses the target
            steps = [parse_step(line) for line in part.split("\n")]
            assert steps[-1].left_after == (steps[-1].result,) and steps[-1].result != problem.meta["target"]
            assert all(step.result != problem.meta["target"] for step in steps)
        openings = [part.split("\n")[0] for part in parts]
        assert len(set(openings)) == len(openings)  # no first step is tried twice
    assert any(t.kind == "dead_end" for t in traces)  # the deliberate mistakes stay


def test_searching_first_steps_follow_the_prompts_order():
    from selfplay.tasks.countdown.traces import countdown_search, first_steps
    import random
    assert first_steps([7, 3])[:2] == ["7+3=10", "7*3=21"]
    answer = countdown_search([6, 5, 13], 43, True, 6, random.Random(0))
    opened = [part.split("\n")[0] for part in answer.split("\nretry\n")]
    assert opened == first_steps([6, 5, 13])[:len(opened)] and opened[-1] == "6*5=30"
    assert countdown_search([6, 5, 13], 43, True, 0, random.Random(0)) is None  # more dead steps than allowed
    assert countdown_search([2, 3], 97, True, 6, random.Random(0)) is None  # no solution at all


def test_traces_longer_than_the_model_are_left_out_not_cut():
    from selfplay.builtin_model.pretrain import tokenize_traces
    from selfplay.builtin_model.tokenizer import build_tokenizer
    traces = build_corpus(CorpusConfig(traces=40, task_mix={"countdown": 1.0}, options={"countdown": {"search": 6}}), seed=0)
    longest = max(len(t.prompt) + len(t.completion) for t in traces)
    rows = tokenize_traces(traces, build_tokenizer(), longest)  # BOS and EOS make the longest one too long
    assert 0 < len(rows) < len(traces)
    assert all(row["input_ids"][-1] == build_tokenizer().eos_token_id for row in rows)


def test_a_familys_corpus_settings_live_in_its_recipe_and_older_flat_keys_still_read():
    """Countdown's corpus settings are its recipe's `CountdownCorpus`; a recipe written before they moved
    (`countdown_search: 6` beside `traces`, as the committed models' pretrain.yaml files are) reads the same."""
    from selfplay.tasks.countdown.traces import CountdownCorpus
    older = config_from_dict({"corpus": {"countdown_search": 6, "countdown_numbers": [3], "countdown_state": False}})
    newer = config_from_dict({"corpus": {"options": {"countdown": {"search": 6, "numbers": [3], "state": False}}}})
    assert older.corpus == newer.corpus
    assert newer.corpus.options["countdown"] == CountdownCorpus(search=6, numbers=(3,), state=False)
    assert CorpusConfig().options == {"countdown": CountdownCorpus()}  # defaults where a family is not named
    assert "countdown_" not in " ".join(f.name for f in dataclasses.fields(CorpusConfig))
    for name in ("base", "search", "code"):  # the committed recipes load and round-trip through the new spelling
        made = load_recipe(REPO / "models" / name / "pretrain.yaml")
        assert config_from_dict(made.to_dict()) == made


def test_config_validation_and_the_default_preset():
    with pytest.raises(ValueError, match="unknown config key"):
        config_from_dict({"corpus": {"mistake_rate": 0.2}})
    with pytest.raises(ValueError, match="mistake_share"):
        CorpusConfig(mistake_share=1.5)
    with pytest.raises(ValueError, match="countdown search must be at least 0"):
        CorpusConfig(options={"countdown": {"search": -1}})
    with pytest.raises(ValueError, match="corpus.options.countdown.*depth"):
        config_from_dict({"corpus": {"options": {"countdown": {"depth": 3}}}})
    with pytest.raises(ValueError, match="options takes some of \\['countdown'\\].*'arith'"):
        CorpusConfig(options={"arith": {"steps": 3}})
    with pytest.raises(ValueError, match="divide"):
        ModelShape(hidden_size=130, heads=4)
    preset = load_recipe(REPO / "configs" / "pretrain.yaml")
    assert preset.corpus.task_mix["countdown"] == max(preset.corpus.task_mix.values())
    assert preset.threads == 1 and 0 < preset.corpus.mistake_share < 1


TINY = {"seed": 0, "max_steps": 40, "minutes": 2.0, "batch_size": 8, "learning_rate": 0.003, "logging_steps": 5,
        "evaluate": False, "corpus": {"traces": 200, "task_mix": {"countdown": 1.0}},
        "model": {"hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64, "max_positions": 128}}


@pytest.mark.slow
def test_tiny_pretraining_lowers_the_loss_and_saves_a_loadable_model(tmp_path):
    import yaml
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["--config", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "model")]) == 0
    out = tmp_path / "model"
    assert "parameters" in (out / "README.md").read_text()
    assert load_recipe(out / "pretrain.yaml") == config_from_dict({**TINY, "out": str(out)})
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    batch = tokenizer(["Use 3 5 8 to make 13 with + - * /. Each number at most once.\n"], return_tensors="pt")
    generated = model.generate(**batch, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] > batch["input_ids"].shape[1]
    problems = load_problems(DATASETS / "countdown" / "dev.jsonl")[:2]
    result = card.evaluate_model(out, problems, samples=2)
    assert result.n_greedy == 2 and result.n_sampled == 2 and 0 <= result.pass_at_samples <= 1


@pytest.mark.slow
def test_pretraining_lowers_the_loss_and_is_deterministic(tmp_path):
    config = config_from_dict({**TINY, "out": str(tmp_path / "a")})
    first = pretrain(config)
    losses = [entry["loss"] for entry in first.log_history if "loss" in entry]
    assert len(losses) >= 5 and losses[-1] < 0.8 * losses[0]
    assert first.tokens > 0 and all("tokens_per_s" in e for e in first.log_history if "loss" in e)
    second = pretrain(config_from_dict({**TINY, "max_steps": 10, "out": str(tmp_path / "b")}))
    third = pretrain(config_from_dict({**TINY, "max_steps": 10, "out": str(tmp_path / "c")}))
    weights_b = AutoModelForCausalLM.from_pretrained(second.out).state_dict()
    weights_c = AutoModelForCausalLM.from_pretrained(third.out).state_dict()
    assert all(torch.equal(weights_b[name], weights_c[name]) for name in weights_b)


@pytest.mark.slow
def test_pretraining_reports_its_loss_to_tensorboard_beside_the_model(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import yaml
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "max_steps": 10}))
    assert main(["--config", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "model"),
                 "--report-to", "tensorboard"]) == 0
    events = [path for path in (tmp_path / "model-tensorboard").rglob("events.out.tfevents.*")]
    assert events and not list((tmp_path / "model").rglob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert "train/loss" in accumulator.Tags()["scalars"]
    assert load_recipe(tmp_path / "model" / "pretrain.yaml").report_to == "tensorboard"
    with pytest.raises(ValueError, match="report_to must be one of"):
        config_from_dict({**TINY, "report_to": "stdout"})


@pytest.mark.slow
def test_a_model_pretrained_to_search_declares_its_longer_answers_and_retries(tmp_path):
    from selfplay.answering.deliberate import answer_check_for, pricing_for
    from selfplay.model.policy import Policy
    config = config_from_dict({**TINY, "max_steps": 3, "out": str(tmp_path / "m"),
                               "corpus": {**TINY["corpus"], "options": {"countdown": {"search": 2}}},
                               "model": {**TINY["model"], "max_positions": 256}})
    pretrain(config)
    policy = Policy.from_pretrained(tmp_path / "m")
    assert policy.retries and pricing_for(policy, "countdown").answer_tokens == 256 - 80
    assert pricing_for(policy, "arith").answer_tokens == 64  # other tasks keep their prices
    plain = Policy.from_pretrained(BASE)
    assert not plain.retries and pricing_for(plain, "countdown").answer_tokens == 64
    card.set_generation_defaults(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "generation_config.json").read_text())["max_new_tokens"] == card.ANSWER_TOKENS
    problem = load_problems(DATASETS / "countdown" / "hard" / "dev.jsonl")[0]
    assert answer_check_for(problem, policy.retries).retries


def test_the_committed_base_model_loads_and_meets_its_targets():
    model = AutoModelForCausalLM.from_pretrained(BASE)
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    assert 1_000_000 <= model.num_parameters() <= 10_000_000
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.selfplay_tools == ["calculator"]  # taught to call it; Policy.from_pretrained switches it on
    record = json.loads((BASE / "eval.json").read_text())
    easy, hard = record["tasks"]["countdown"], record["tasks"]["countdown_hard"]
    assert easy["n_greedy"] == hard["n_greedy"] == 200 and easy["samples"] == hard["samples"] == 32
    assert 0.10 <= easy["greedy"] <= 0.70  # imperfect on the level it was taught
    assert hard["greedy"] <= easy["greedy"] / 2  # the standard game is new to it: room for the rounds
    assert hard["pass_at_samples"] >= 4 * hard["greedy"]  # and its samples find what greedy misses
    assert f"{record['training']['parameters']:,}" in (BASE / "README.md").read_text()
    stability = record["stability"]  # one epoch of the rounds' finetuning on expert traces costs <= 2 points
    assert stability["dev_problems"] == 200 and stability["greedy_after"] >= stability["greedy_before"] - 0.02


def test_the_stability_check_is_judged_on_the_mean_of_its_draws():
    draw = {"preset": "default", "expert_rows": 1000, "greedy_before": 0.455, "gained": 8, "lost": 11,
            "sign_test_p": 0.65, "command": "python benchmarks/expert_control.py --rows 1000 --seed 1"}
    draws = [{**draw, "seed": seed, "greedy_after": after} for seed, after in ((0, 0.42), (1, 0.44), (2, 0.45))]
    assert card.stability_verdict(draws)["met"] and not card.stability_verdict(draws[0])["met"]
    section = card._stability_section(draws)
    assert "3 draws" in section and "a fall of 1.8 points" in section and ": met" in section
    assert "| 2 | 45.5% -> 45.0% | 8 / 11 | 0.65 |" in section
    assert "NOT met" in card._stability_section(draws[0])
    with pytest.raises(ValueError, match="different base models"):
        card.stability_verdict([draws[0], {**draws[1], "greedy_before": 0.27}])

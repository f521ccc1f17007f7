"""The code model's recipe: a corpus of one level's train file, the prices a model declares, the card's tasks."""
from pathlib import Path

import pytest

from selfplay.builtin_model import card
from selfplay.builtin_model.corpus import CorpusConfig, build_corpus
from selfplay.builtin_model.pretrain import pretrain
from selfplay.builtin_model.pretrain_config import config_from_dict, load_recipe as load_config
from selfplay.tasks import load_problems

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO / "datasets"
CODE = {"seed": 0, "max_steps": 3, "minutes": 2.0, "batch_size": 4, "logging_steps": 1, "evaluate": False,
        "pricing": {"funcs": {"answer_tokens": 160, "max_depth": 10, "step_tokens": 64}},
        "corpus": {"traces": 40, "task_mix": {"funcs": 1.0}, "train_files": {"funcs": "funcs/pipes/train.jsonl"},
                   "calculator": False, "mistake_share": 0.1},
        "model": {"hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64, "max_positions": 512}}


def test_a_corpus_draws_a_task_from_the_train_file_it_names():
    traces = build_corpus(CorpusConfig(traces=60, task_mix={"funcs": 1.0}, calculator=False,
                                       train_files={"funcs": "funcs/pipes/train.jsonl"}), seed=0)
    pipes = {p.id: p for p in load_problems(DATASETS / "funcs" / "pipes" / "train.jsonl")}
    assert {t.problem_id for t in traces} <= set(pipes)
    experts = [t for t in traces if t.kind == "expert"]
    assert experts and all(t.completion == pipes[t.problem_id].meta["solution"] for t in experts)
    with pytest.raises(ValueError, match="train_files takes"):
        CorpusConfig(task_mix={"funcs": 1.0}, train_files={"chess": "chess/train.jsonl"})


def test_a_corpus_refuses_a_named_dev_file():
    with pytest.raises(ValueError, match="train splits only"):
        build_corpus(CorpusConfig(traces=5, task_mix={"funcs": 1.0}, train_files={"funcs": "funcs/pipes/dev.jsonl"}),
                     seed=0)


def test_declared_prices_are_checked_and_reach_the_model(tmp_path):
    from selfplay.answering.deliberate import pricing_for
    from selfplay.model.policy import Policy
    with pytest.raises(ValueError, match="Pricing fields"):
        config_from_dict({**CODE, "pricing": {"funcs": {"answer_tokens": 160}}})
    pretrain(config_from_dict({**CODE, "out": str(tmp_path / "m")}))
    policy = Policy.from_pretrained(tmp_path / "m")
    assert pricing_for(policy, "funcs").answer_tokens == 160 and pricing_for(policy, "arith").answer_tokens == 64
    assert policy.tools is None  # no calculator in its corpus, no tool declared


def test_the_code_recipe_loads():
    config = load_config(REPO / "configs" / "pretrain-code.yaml")
    assert config.out == "models/code" and dict(config.corpus.task_mix) == {"funcs": 1.0}
    assert config.corpus.train_file("funcs") == DATASETS / "funcs" / "pipes" / "train.jsonl"


def test_the_card_measures_only_the_tasks_it_is_told(tmp_path):
    from tests.tiny_models import save_tiny_model
    model = save_tiny_model(tmp_path / "tiny")
    data = tmp_path / "datasets"
    for name in ("funcs/pipes/dev.jsonl", "countdown/dev.jsonl"):
        (data / name).parent.mkdir(parents=True)
        (data / name).write_text("".join((DATASETS / name).read_text().splitlines(keepends=True)[:2]))
    only = card.measure_dev(model, samples=1, funcs_limit=1, datasets=data, tasks={"funcs"})
    assert sorted(only) == ["funcs_pipes"] and only["funcs_pipes"]["n_greedy"] == 2
    assert sorted(card.measure_dev(model, samples=1, funcs_limit=1, datasets=data)) == ["countdown", "funcs_pipes"]


def test_the_committed_code_model_declares_its_prices_and_card():
    import json
    from selfplay.answering.deliberate import pricing_for
    from selfplay.model.policy import Policy
    model = REPO / "models" / "code"
    assert pricing_for(Policy.from_pretrained(model), "funcs").answer_tokens == 160
    tasks = json.loads((model / "eval.json").read_text())["tasks"]
    assert sorted(tasks) == ["funcs", "funcs_hard", "funcs_pipes"]  # its corpus's task only
    assert tasks["funcs_pipes"]["pass_at_samples"] > tasks["funcs_hard"]["pass_at_samples"] > 0
    assert load_config(model / "pretrain.yaml") == config_from_dict({**load_config(REPO / "configs" / "pretrain-code.yaml")
                                                                    .to_dict()})

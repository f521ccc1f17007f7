"""One strategy registry (`search.STRATEGIES`): its kinds, the names every caller derives, unknown names refused."""
import argparse
import doctest
import importlib.util
from pathlib import Path

import pytest

import search.strategies
from search import GREEDY, SAMPLING, SEARCH, STRATEGIES, lookup_strategy, strategy_names
from selfplay.answering import compare as compare_module
from selfplay.commands import compare as compare_command, evaluate as eval_command
from selfplay.answering.deliberate import deliberate
from selfplay.answering.evaluate import evaluate
from selfplay.runfiles.runconfig import ConfigError, EvalConfig, SamplingConfig, load_config
from selfplay.loop.work import SampleJob
from tests.test_deliberate_compare import COUNTDOWN, countdown_policy

UNKNOWN = "dfs"


def test_doctests():
    result = doctest.testmod(search.strategies)
    assert result.attempted > 0 and result.failed == 0


def test_every_strategy_has_its_function_and_kind():
    assert {name: strategy.kind for name, strategy in STRATEGIES.items()} == {
        "greedy": GREEDY, "sample": SAMPLING, "majority": SEARCH, "best_of_n": SEARCH, "beam": SEARCH,
        "mcts": SEARCH, "weighted_majority": SEARCH}
    assert all(strategy.run is getattr(search, name) for name, strategy in STRATEGIES.items())
    assert strategy_names() == tuple(STRATEGIES) and strategy_names(GREEDY, SAMPLING) == ("greedy", "sample")
    with pytest.raises(ValueError, match="kinds"):
        strategy_names("fast")
    with pytest.raises(TypeError):
        STRATEGIES[UNKNOWN] = STRATEGIES["mcts"]  # read-only: a name is added in search/strategies.py only


def test_callers_derive_their_names_from_the_registry():
    eval_parser = eval_command.register(argparse.ArgumentParser().add_subparsers())
    (strategy_flag,) = [action for action in eval_parser._actions if action.dest == "strategy"]
    assert list(strategy_flag.choices) == list(STRATEGIES) and strategy_flag.default == "greedy"
    assert compare_module.DEFAULT_STRATEGIES == strategy_names(SEARCH) == ("majority", "best_of_n", "beam", "mcts",
                                                                                    "weighted_majority")
    assert compare_command.strategy_list("greedy," + ",".join(strategy_names(SEARCH))) == list(strategy_names(SEARCH))
    for name in STRATEGIES:
        assert SamplingConfig(strategy=name).strategy == name
    for name in strategy_names(SAMPLING, SEARCH):
        assert EvalConfig(strategy=name).strategy == name


@pytest.mark.parametrize("refuse", [
    lambda: lookup_strategy(UNKNOWN),
    lambda: evaluate(countdown_policy(), [COUNTDOWN], UNKNOWN, 4),
    lambda: deliberate(countdown_policy(), COUNTDOWN, UNKNOWN, 4),
    lambda: SampleJob(round=1, model_dir="m", adapter_dir=None, strategy=UNKNOWN, budget=4, seed=0),
], ids=["lookup", "evaluate", "deliberate", "sample-job"])
def test_an_unknown_name_is_an_error_in_the_library(refuse):
    with pytest.raises(ValueError, match=f"unknown strategy '{UNKNOWN}'; expected one of greedy, sample"):
        refuse()


@pytest.mark.parametrize("override", [f"sampling.strategy={UNKNOWN}", f"eval.strategy={UNKNOWN}",
                                      "eval.strategy=greedy", "sampling.strategy=[mcts]"])
def test_an_unknown_name_is_an_error_in_a_config(override):
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        load_config("smoke", [override])


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "m", "--tasks", "t.jsonl", "--strategy", UNKNOWN], "invalid choice"),
    (["compare", "--model", "m", "--tasks", "t.jsonl", "--strategies", f"mcts,{UNKNOWN}"], "unknown or no strategies"),
    (["compare", "--model", "m", "--tasks", "t.jsonl", "--strategies", "sample"], "unknown or no strategies"),
])
def test_an_unknown_name_is_an_error_on_the_command_line(argv, message, capsys):
    from selfplay.commands.lab import main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_workers_benchmark_refuses_an_unknown_name(capsys):
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "workers.py"
    spec = importlib.util.spec_from_file_location("bench_workers", path)
    workers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workers)
    with pytest.raises(SystemExit) as exit_info:
        workers.main(["--strategy", UNKNOWN])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err

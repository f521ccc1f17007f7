"""Run configs: presets, overrides, unknown keys and bad values named, the resolved config written and compared."""
import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

from selfplay.commands import improve as improve_cli
from selfplay.runfiles import runconfig
from selfplay.loop.rounds import prepare_run_dir
from selfplay.runfiles.runconfig import ConfigError, RunConfig, differences, from_dict, load_config
from selfplay.loop.work import LocalExecutor

PRESETS = ("smoke", "default", "base", "gpu", "code")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_loads_and_round_trips(preset):
    config = load_config(preset)
    assert config.preset == preset
    assert Path(config.out).is_absolute() and Path(config.out).parent == runconfig.RUNS_HOME.expanduser()
    assert from_dict(yaml.safe_load(runconfig.to_yaml(config))) == config


def test_smoke_preset_is_small():
    config = load_config("smoke")
    assert config.rounds <= 2 and config.problems_per_round <= 16 and config.sampling.budget <= 4
    assert 0 < config.sft.max_steps <= 10 and config.eval.limit <= 16


def flat(values: dict, prefix: str = "") -> dict:
    """Dotted keys of a config mapping, sections flattened (sampling.search and reward_model stay mappings)."""
    items = {}
    for key, value in values.items():
        if key in runconfig.SECTIONS:
            items.update(flat(value, f"{key}."))
        else:
            items[prefix + key] = value
    return items


def test_dataclass_defaults_are_the_default_preset():
    preset = flat(yaml.safe_load((runconfig.CONFIGS / "default.yaml").read_text()))
    loaded, defaults = flat(load_config("default").to_dict()), flat(RunConfig().to_dict())
    assert len(preset) > 30
    assert {key: loaded[key] for key in preset if loaded[key] != defaults[key]} == {}
    assert dataclasses.replace(load_config("default"), preset="", out="") == RunConfig()


def test_smoke_preset_keeps_the_values_it_took_from_the_old_defaults():
    config = load_config("smoke")
    assert (config.curriculum.levels, config.curriculum.start) == ((), 1)  # samples train_files
    assert (config.sft.lora_rank, config.sft.lora_alpha, config.sft.epochs) == (8, 16, 2.0)
    assert (config.sampling.search, config.reward_model, config.tools) == ({}, {}, "auto")
    assert (config.selection.skip_all_passed, config.selection.targets) == (True, "path")
    assert (config.model, config.selection.hindsight_rows, config.sampling.strategy) == ("models/base", 0, "best_of_n")


def test_train_files_without_curriculum_levels_are_refused(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("train_files: {datasets/countdown/train.jsonl: 1.0}\n")
    with pytest.raises(ConfigError, match=r"curriculum.levels \(\[\] to sample train_files\)"):
        load_config(str(preset))
    preset.write_text("train_files: {datasets/countdown/train.jsonl: 1.0}\ncurriculum: {levels: [], start: 1}\n")
    assert load_config(str(preset)).curriculum.levels == ()


def test_search_overrides_are_built_when_the_config_loads(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("sampling: {search: {num_simulations: abc}}\n")
    with pytest.raises(ConfigError, match="sampling.search: num_simulations must be int, got 'abc'"):
        load_config(str(preset))
    with pytest.raises(ConfigError, match="sampling.search: c_puct must be >= 0"):
        load_config("smoke", ["sampling.search={c_puct: -1}"])


def test_reward_model_overrides_are_typed_and_built_when_the_config_loads(tmp_path):
    from verifiers.scorer_config import RewardModelConfig
    preset = tmp_path / "mine.yaml"
    preset.write_text("train_reward_model: true\nreward_model: {lora_rank: 4, learning_rate: 3e-4, max_steps: 200}\n")
    config = load_config(str(preset))
    assert config.reward_model_config(seed=5) == RewardModelConfig(lora_rank=4, learning_rate=3e-4, max_steps=200,
                                                                  seed=5)
    assert from_dict(yaml.safe_load(runconfig.to_yaml(config))) == config
    assert RunConfig().reward_model_config(seed=0) == RewardModelConfig()
    tracked = load_config(str(preset), ["sft.report_to=tensorboard"])  # the run's one tracker, for every trainer
    assert tracked.reward_model_config(seed=5).report_to == "tensorboard"
    with pytest.raises(ConfigError, match="the tracker is sft.report_to"):
        load_config(str(preset), ["reward_model={report_to: wandb}"]).reward_model_config(seed=5)


@pytest.mark.parametrize("override, message", [
    ("reward_model={lora_rank: abc}", "reward_model.lora_rank: expected int"),
    ("reward_model={lora_rank: 0}", "reward_model: lora_rank and batch_size must be >= 1"),
    ("reward_model={max_pairs_per_problem: 0}", "reward_model: max_pairs_per_problem must be >= 1"),
    ("reward_model={bogus: 1}", r"reward_model: unknown keys \['bogus'\]"),
    ("reward_model={seed: 1}", "the seed derives from seed and the round"),
    ("reward_model=3", "reward_model: expected dict")])
def test_bad_reward_model_values_are_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke", [override])


def test_yaml_values_then_overrides_in_order(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("rounds: 5\nsft: {learning_rate: 0.01, batch_size: 2}\nsampling: {search: {c_puct: 2.0}}\n")
    config = load_config(str(preset), ["sft.learning_rate=3e-4", "rounds=1", "rounds=2", "dev_files=[a.jsonl]",
                                       f"out={tmp_path}/run", "sampling.search={num_simulations: 4}"])
    assert config.rounds == 2 and config.preset == "mine"
    assert config.sft.learning_rate == pytest.approx(3e-4) and config.sft.batch_size == 2
    assert config.sft.lora_rank == RunConfig().sft.lora_rank  # untouched fields keep their defaults
    assert config.dev_files == ("a.jsonl",)
    assert config.sampling.search == {"num_simulations": 4}  # a mapping value replaces the mapping
    assert config.out == f"{tmp_path}/run"


def test_ints_are_accepted_for_floats():
    assert load_config("smoke", ["sft.learning_rate=1"]).sft.learning_rate == 1.0


@pytest.mark.parametrize("override, named", [
    ("bogus=1", "'bogus'"), ("sft.bogus=1", "'sft.bogus'"), ("sampling.search={bogus: 1}", "bogus")])
def test_unknown_override_keys_are_errors_naming_the_key(override, named):
    with pytest.raises(ConfigError, match=named):
        load_config("smoke", [override])


def test_unknown_preset_keys_are_errors_naming_the_key(tmp_path):
    preset = tmp_path / "typo.yaml"
    preset.write_text("rounds: 1\neval: {limt: 3}\n")
    with pytest.raises(ConfigError, match="'eval.limt'"):
        load_config(str(preset))


@pytest.mark.parametrize("override, message", [
    ("rounds=abc", "rounds: expected int"), ("rounds=true", "rounds: expected int"),
    ("sampling.strategy=dfs", "sampling.strategy"), ("selection.replay_share=1.0", "replay_share"),
    ("out=relative/dir", "absolute"), ("eval.strategy=greedy", "eval.strategy"), ("sft", "key=value"),
    ("train_files={a.jsonl: 0}", "train_files"), ("sft=3", "expected a mapping"),
    ("workers=-1", "workers: expected 'auto'"), ("workers=many", "workers: expected 'auto'"),
    ("workers=true", "workers: expected 'auto'"), ("workers=1.5", "workers: expected 'auto'")])
def test_bad_values_are_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke", [override])


def test_default_out_uses_the_name_under_the_runs_home():
    config = load_config("smoke", ["name=exp7"])
    assert config.out == str(runconfig.RUNS_HOME.expanduser() / "exp7")
    stamped = load_config("smoke", now=0.0)
    assert Path(stamped.out).name.startswith("smoke-19")


def test_resolved_config_is_written_and_a_changed_rerun_is_refused(tmp_path):
    config = load_config("smoke", [f"out={tmp_path / 'run'}", "sft.max_steps=3"])
    run = prepare_run_dir(config)
    written = yaml.safe_load(run.config.read_text())
    assert written["sft"]["max_steps"] == 3 and written["out"] == str(tmp_path / "run")
    assert from_dict(written) == config
    more_rounds = load_config("smoke", [f"out={tmp_path / 'run'}", "sft.max_steps=3", "rounds=5"])
    prepare_run_dir(more_rounds)  # execution fields may change: the run continues
    assert yaml.safe_load(run.config.read_text())["rounds"] == 5
    changed = load_config("smoke", [f"out={tmp_path / 'run'}", "sft.max_steps=4", "seed=2"])
    assert differences(config, changed) == ["seed", "sft.max_steps"]
    with pytest.raises(ConfigError, match="seed, sft.max_steps"):
        prepare_run_dir(changed)


def test_cli_flags_become_overrides(tmp_path, capsys):
    code = improve_cli.main(["--preset", "smoke", "--out", str(tmp_path / "r"), "--rounds", "3", "--workers", "0",
                             "--set", "sft.max_steps=7", "--print-config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert (printed["rounds"], printed["workers"], printed["sft"]["max_steps"]) == (3, 0, 7)
    assert printed["out"] == str(tmp_path / "r")


def test_cli_errors_exit_2_with_one_line(capsys):
    assert improve_cli.main(["--preset", "smoke", "--set", "sft.nope=1"]) == 2
    assert "unknown config key 'sft.nope'" in capsys.readouterr().err


def test_workers_without_the_ray_executor_fail_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "selfplay.execution.ray_runner", None)  # importing it raises ImportError
    with pytest.raises(ConfigError, match="--workers 2 needs the Ray executor"):
        improve_cli.make_executor(load_config("smoke", ["workers=2"]))
    assert type(improve_cli.make_executor(load_config("smoke"))).__name__ == "LocalExecutor"


def test_workers_auto_is_one_actor_per_core_or_gpu():
    from selfplay.execution.ray_runner import RayExecutor

    config = load_config("default")
    assert config.workers == "auto"  # the main job samples on every core (a local cluster when none runs)
    executor = improve_cli.make_executor(config)  # builds no cluster until the first run
    assert isinstance(executor, RayExecutor) and executor.workers is None
    assert improve_cli.make_executor(load_config("default", ["workers=3"])).workers == 3
    assert type(improve_cli.make_executor(load_config("default", ["workers=0"]))).__name__ == "LocalExecutor"


def test_the_executor_is_closed_when_the_rounds_fail(tmp_path, monkeypatch):
    from rich.console import Console

    from selfplay.loop import rounds

    class Executor:
        closed = 0

        def close(self):
            Executor.closed += 1

    def failing_improve(config, executor, **options):
        raise RuntimeError("round failed")

    monkeypatch.setattr(improve_cli, "make_executor", lambda config: Executor())
    monkeypatch.setattr(rounds, "improve", failing_improve)
    with pytest.raises(RuntimeError, match="round failed"):
        improve_cli.run_rounds(load_config("smoke", [f"out={tmp_path / 'r'}"]), Console(quiet=True))
    assert Executor.closed == 1


def test_a_local_executor_closes_by_dropping_its_policy():
    from selfplay.loop.work import LocalExecutor

    executor = LocalExecutor()
    executor._policy, executor._model_dir = object(), "models/base"
    executor.close()
    assert executor._policy is None and executor._model_dir is None


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("0", 0), ("4", 4)])
def test_workers_flag_takes_auto_or_a_count(tmp_path, capsys, text, expected):
    assert improve_cli.main(["--preset", "smoke", "--out", str(tmp_path / "r"), "--workers", text,
                             "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["workers"] == expected


@pytest.mark.parametrize("text", ["-1", "two", "1.5"])
def test_bad_workers_flag_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        improve_cli.main(["--preset", "smoke", "--workers", text, "--print-config"])
    assert exit_info.value.code == 2 and "expected 'auto' or a count >= 0" in capsys.readouterr().err


def test_the_reward_model_phase_trains_with_the_presets_reward_model_section(tmp_path, monkeypatch):
    import verifiers.reward_model
    from selfplay.runfiles import rundir
    from selfplay.loop.rounds import Context, reward_model_phase

    config = load_config("smoke", ["train_reward_model=true", "seed=5"])
    config = dataclasses.replace(config, reward_model={"lora_rank": 4, "max_steps": 7})
    round_dir = rundir.RunDir(tmp_path).round(2)
    round_dir.path.mkdir(parents=True)
    rundir.write_jsonl(round_dir.rm, [{"problem_id": "p", "prompt": "Q", "chosen": "a", "rejected": "b",
                                       "kind": "verified"}])
    seen = {}

    def fake_train(pairs, model_dir, out, reward_config, *, base_name):
        seen["config"], seen["base"] = reward_config, base_name
        rundir.write_json(Path(out) / "scorer.json", {"training": {"pairs": len(pairs)}})

    monkeypatch.setattr(verifiers.reward_model, "train_reward_model", fake_train)
    context = Context(config, rundir.RunDir(tmp_path), executor=LocalExecutor())  # trains where the executor runs
    assert reward_model_phase(context, round_dir) == {"pairs": 1}
    assert (seen["config"].lora_rank, seen["config"].max_steps, seen["config"].seed) == (4, 7, 5 + 2)
    assert seen["base"] == str(config.path(config.model).resolve())  # the driver's path of the base, not a worker's copy


@pytest.mark.parametrize("override, words", [("sampling.budget=100000", "sampling.budget must be from 1 to 4,096"),
                                             ("eval.budget=100000", "eval.budget is at most 4,096")])
def test_a_budget_past_the_bound_is_refused_at_load(override, words):
    with pytest.raises(ConfigError, match=words):
        load_config("smoke", [override])

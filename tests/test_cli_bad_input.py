"""Bad input to `lab`: exit status 2, one line naming the file, line, field or flag, no traceback.

One parametrized case per kind of bad input, run in process through `selfplay.commands.lab.main` (argparse's
own errors end in SystemExit(2)); `python -m jobs.improve` runs once as a subprocess.
"""
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfplay.commands.lab import main
from selfplay.runfiles.runconfig import load_config, to_yaml
from tests.fixture_run import make_run

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "datasets" / "arith" / "dev.jsonl"
BASE = REPO / "models" / "base"


def lab(capsys, *argv) -> tuple[int, str]:
    """(exit status, stdout + stderr) of `lab ARGV`."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_refused(code: int, output: str, *names: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if "error:" in line]
    assert len(error_lines) == 1, output
    for name in names:
        assert name in error_lines[0], output


# --- task files and completions -----------------------------------------------------------------

def _write_gzip_cut_short(path: Path) -> None:
    import gzip
    rows = "".join(json.dumps({"numbers": [3, 5, 8], "target": 64, "id": f"r{i}"}) + "\n" for i in range(20000))
    data = gzip.compress(rows.encode())
    path.write_bytes(data[:len(data) // 2])


BAD_TASK_FILES = {
    "long.jsonl": lambda p: p.write_text('{"numbers": [3, 5], "target": ' + "9" * 5000 + "}\n"),
    "deep.jsonl": lambda p: p.write_text("[" * 100_000 + "]" * 100_000 + "\n"),
    "junk.jsonl.gz": lambda p: p.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4),
    "short.jsonl.gz": _write_gzip_cut_short,
    "junk.parquet": lambda p: p.write_bytes(b"PAR1" + bytes(range(256)) * 4),
}


@pytest.mark.parametrize("name", sorted(BAD_TASK_FILES))
@pytest.mark.parametrize("command", ["show", "verify"])
def test_a_damaged_task_file_is_named(tmp_path, capsys, name, command):
    path = tmp_path / name
    BAD_TASK_FILES[name](path)
    completions = tmp_path / "completions.jsonl"
    completions.write_text('{"id": "x", "completion": "1"}\n')
    argv = ["tasks", "show", path] if command == "show" else ["verify", "--tasks", path, "--completions", completions]
    code, output = lab(capsys, *argv)
    line = "" if name.endswith(".parquet") else ":"
    assert_refused(code, output, f"{path}{line}")


@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe\x00" + bytes(range(256)) * 8, "not UTF-8"),
    (b'{"id": "a", "completion": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "nested too deeply"),
    (b'{"id": "a", "completion": ' + b"7" * 5000 + b"}\n", "digits"),
    (b'{"id": "a", "completion": 7}\n', "field 'completion'"),
])
def test_binary_or_malformed_completions_name_the_line(tmp_path, capsys, content, words):
    completions = tmp_path / "completions.jsonl"
    completions.write_bytes(content)
    code, output = lab(capsys, "verify", "--tasks", DEV, "--completions", completions)
    assert_refused(code, output, f"{completions}:1:", words)


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "1e9", "inf", "soon"])
def test_verify_timeout_out_of_range_is_a_usage_error(tmp_path, capsys, timeout):
    completions = tmp_path / "completions.jsonl"
    completions.write_text('{"id": "x", "completion": "1"}\n')
    code, output = lab(capsys, "verify", "--tasks", DEV, "--completions", completions, "--timeout", timeout)
    assert_refused(code, output, "--timeout")


# --- lab eval: device, model, adapter -----------------------------------------------------------

def eval_argv(*flags) -> list:
    return ["eval", "--tasks", DEV, "--limit", "1", *flags]


@pytest.mark.parametrize("device, words", [("bogus", "not a torch device"), ("meta", "cpu, cuda or mps"),
                                           ("cuda", "CUDA"), ("cuda:99", "CUDA")])
def test_eval_device_that_is_not_here_is_named(capsys, device, words):
    import torch
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code, output = lab(capsys, *eval_argv("--model", BASE, "--device", device))
    assert_refused(code, output, f"--device {device}" if device != "bogus" else "--device 'bogus'", words)


@pytest.fixture()
def model_copy(tmp_path) -> Path:
    """The built-in model's small files, and its weights linked, in a folder a test may break."""
    copy = tmp_path / "model"
    copy.mkdir()
    for path in BASE.iterdir():
        if path.suffix == ".safetensors":
            (copy / path.name).symlink_to(path)
        else:
            shutil.copy(path, copy / path.name)
    return copy


@pytest.mark.parametrize("content, where, words", [
    (b'{"model_type": "llama", broken', "config.json:1:", "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "config.json:", "not UTF-8"),
    (b'{"model_type": "llama", "hidden_size": -4}', "config.json:", "not a usable model config"),
    (b'{"model_type": "no-such-architecture"}', "config.json:", "not a usable model config"),
])
def test_eval_model_with_a_broken_config_names_the_file(capsys, model_copy, content, where, words):
    (model_copy / "config.json").write_bytes(content)
    code, output = lab(capsys, *eval_argv("--model", model_copy))
    assert_refused(code, output, str(model_copy / where), words)


def test_eval_model_with_truncated_weights_names_the_file(capsys, model_copy):
    weights = model_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(data[:1000])
    code, output = lab(capsys, *eval_argv("--model", model_copy))
    assert_refused(code, output, str(weights), "safetensors")


@pytest.mark.parametrize("files, names, words", [
    ({}, "", "no adapter_config.json"),
    ({"adapter_config.json": b"{not json"}, "adapter_config.json:1:", "not valid JSON"),
    ({"adapter_config.json": b'{"peft_type": "LORA"}'}, "", "no adapter_model.safetensors"),
    ({"adapter_config.json": b'{"peft_type": "LORA"}', "adapter_model.safetensors": b""},
     "adapter_model.safetensors", "not a readable safetensors"),
])
def test_eval_bad_adapter_is_named_as_the_adapter_not_the_model(tmp_path, capsys, files, names, words):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for name, content in files.items():
        (adapter / name).write_bytes(content)
    code, output = lab(capsys, *eval_argv("--model", BASE, "--adapter", adapter))
    assert_refused(code, output, str(adapter / names) if names else str(adapter), words)
    assert "cannot load the model" not in output


def test_eval_missing_adapter_directory(tmp_path, capsys):
    code, output = lab(capsys, *eval_argv("--model", BASE, "--adapter", tmp_path / "nowhere"))
    assert_refused(code, output, str(tmp_path / "nowhere"), "no such adapter directory")


# --- lab improve: presets and overrides ---------------------------------------------------------

def improve_argv(tmp_path, *flags) -> list:
    return ["improve", "--print-config", "--out", tmp_path / "run", *flags]


@pytest.mark.parametrize("preset, where, words", [
    ("rounds: [1,\n  x: :\n", ":2:", "not valid YAML"),
    (b"\x00\xff\xfe binary \x89PNG", ":", "not UTF-8"),
    ("sft: {learning_rate: 1e-3\n", ":", "not valid YAML"),
])
def test_a_broken_preset_file_is_named(tmp_path, capsys, preset, where, words):
    path = tmp_path / "preset.yaml"
    path.write_bytes(preset if isinstance(preset, bytes) else preset.encode())
    code, output = lab(capsys, *improve_argv(tmp_path, "--preset", path))
    assert_refused(code, output, f"{path}{where}", words)


@pytest.mark.parametrize("flags, names", [
    (["--preset", "no-such-preset"], ["unknown preset 'no-such-preset'"]),
    (["--preset", "smoke", "--set", "no_such_key=1"], ["'no_such_key'"]),
    (["--preset", "smoke", "--set", "sft.no_such_key=1"], ["'sft.no_such_key'"]),
    (["--preset", "smoke", "--set", "sft.learning_rate=abc"], ["sft.learning_rate", "expected float"]),
    (["--preset", "smoke", "--set", "sft.learning_rate=.inf"], ["sft.learning_rate", "finite"]),
    (["--preset", "smoke", "--set", "sft.learning_rate=nan"], ["sft.learning_rate", "finite"]),
    (["--preset", "smoke", "--set", "selection.replay_share=.nan"], ["selection.replay_share", "finite"]),
    (["--preset", "smoke", "--set", "train_files={datasets/countdown/train.jsonl: .nan}"], ["train_files"]),
    (["--preset", "smoke", "--set", "sampling.search={num_simulations: -5}"], ["sampling.search", "num_simulations"]),
    (["--preset", "smoke", "--set", "sampling.search={c_puct: .inf}"], ["sampling.search", "c_puct"]),
    (["--preset", "smoke", "--set", "sampling.search={max_depth: deep}"], ["sampling.search", "max_depth"]),
    (["--preset", "smoke", "--set", "seed=" + "9" * 5000], ["override 'seed=999", "not YAML"]),
    (["--preset", "smoke", "--set", "rounds"], ["expected key=value"]),
])
def test_improve_config_errors_exit_2(tmp_path, capsys, flags, names):
    code, output = lab(capsys, *improve_argv(tmp_path, *flags))
    assert_refused(code, output, *names)


def test_improve_rerun_with_changed_settings_exits_2(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text(to_yaml(load_config("smoke", [f"out={out}", "workers=0"])))
    code, output = lab(capsys, "improve", "--preset", "smoke", "--out", out, "--workers", "0", "--quiet",
                       "--set", "sft.learning_rate=0.5")
    assert_refused(code, output, str(out / "config.yaml"), "sft.learning_rate")
    assert yaml.safe_load((out / "config.yaml").read_text())["sft"]["learning_rate"] != 0.5  # left as it was


def test_python_m_jobs_improve_reports_like_lab(tmp_path):
    result = subprocess.run([sys.executable, "-m", "jobs.improve", "--preset", "no-such-preset", "--print-config",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert_refused(result.returncode, result.stdout + result.stderr, "unknown preset 'no-such-preset'")


# --- lab tree serve ------------------------------------------------------------------------------

@pytest.fixture()
def run_dir(tmp_path) -> Path:
    return make_run(tmp_path)


def test_tree_serve_on_a_busy_port_names_host_and_port(run_dir, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = lab(capsys, "tree", "serve", run_dir, "--port", port)
    assert_refused(code, output, f"--host 127.0.0.1 --port {port}", "in use")


@pytest.mark.parametrize("flags, names", [
    (["--port", "99999"], ["--port", "0 to 65535"]),
    (["--port", "-1"], ["--port", "0 to 65535"]),
    (["--port", "http"], ["--port"]),
    (["--host", "no-such-host.invalid", "--port", "0"], ["--host no-such-host.invalid", "cannot serve"]),
])
def test_tree_serve_bad_address_exits_2(run_dir, capsys, flags, names):
    code, output = lab(capsys, "tree", "serve", run_dir, *flags)
    assert_refused(code, output, *names)


# A model's declared settings (config.json's selfplay_* keys): each bad value is refused before any weights load,
# naming the file, the key and the value, where it used to mean something else (NaN passed `< 1` and MCTS spent
# 27x its budget; "false" meant true) or end in a traceback.
@pytest.mark.parametrize("settings, words", [
    ({"selfplay_pricing": {"countdown": {"answer_tokens": float("nan"), "max_depth": 8, "step_tokens": 32}}},
     ("selfplay_pricing", "answer_tokens", "nan")),
    ({"selfplay_pricing": {"countdown": {"answer_tokens": 10**9, "max_depth": 8, "step_tokens": 32}}},
     ("selfplay_pricing", "answer_tokens")),
    ({"selfplay_pricing": {"countdown": {"answer_tokens": 64.5, "max_depth": 8, "step_tokens": 32}}},
     ("selfplay_pricing", "64.5")),
    ({"selfplay_pricing": {"countdown": {"answer_tokens": True, "max_depth": 8, "step_tokens": 32}}},
     ("selfplay_pricing", "True")),
    ({"selfplay_pricing": {"countdown": {"answer_tokens": 64, "depth": 8}}}, ("selfplay_pricing", "depth")),
    ({"selfplay_pricing": {"countdown": 64}}, ("selfplay_pricing", "countdown")),
    ({"selfplay_pricing": [1, 2]}, ("selfplay_pricing",)),
    ({"selfplay_retries": "false"}, ("selfplay_retries", "'false'")),
    ({"selfplay_retries": 12345}, ("selfplay_retries", "12345")),
    ({"selfplay_retries": [1]}, ("selfplay_retries",)),
    ({"selfplay_retries": float("nan")}, ("selfplay_retries", "nan")),
    ({"selfplay_search": {"countdown": {"num_simulations": -3}}}, ("selfplay_search", "num_simulations")),
    ({"selfplay_search": {"countdown": {"c_puct": float("inf")}}}, ("selfplay_search", "c_puct")),
    ({"selfplay_search": {"countdown": {"warp_speed": 9}}}, ("selfplay_search", "warp_speed")),
    ({"selfplay_search": "mcts"}, ("selfplay_search",)),
])
def test_eval_model_with_bad_declared_settings_names_the_key(capsys, model_copy, settings, words):
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, **settings}))
    code, output = lab(capsys, *eval_argv("--model", model_copy))
    assert_refused(code, output, str(model_copy / "config.json"), *words)


def test_a_run_on_a_model_with_bad_declared_settings_stops_before_any_work(tmp_path, model_copy):
    from selfplay.model.settings import ModelConfigError
    from selfplay.loop.rounds import check_inputs
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, "selfplay_retries": "yes"}))
    run_config = load_config("smoke", [f"model={model_copy}"])
    with pytest.raises(ModelConfigError, match="selfplay_retries must be true or false, got 'yes'"):
        check_inputs(run_config)
    (model_copy / "config.json").write_text(json.dumps(config))
    check_inputs(run_config)  # the model's own settings pass


def test_eval_with_a_budget_that_pays_for_no_model_call_is_refused(capsys):
    countdown = REPO / "datasets" / "countdown" / "dev.jsonl"
    code, output = lab(capsys, "eval", "--tasks", countdown, "--limit", "1", "--model", BASE, "--strategy", "mcts",
                       "--budget", "1")
    assert_refused(code, output, "mcts x1", "pay for no model call", "raise the budget")


def test_version_is_printed(capsys):
    from importlib.metadata import version
    code, output = lab(capsys, "--version")
    assert code == 0 and output.strip() == f"lab {version('selfplay')}"


def test_a_closed_pipe_ends_quietly():
    """`lab tasks show BIG | head -1`: the reader leaves early; no 'Broken pipe' error, the shell's status 141."""
    process = subprocess.Popen([sys.executable, "-m", "selfplay.commands.lab", "tasks", "show",
                                str(REPO / "datasets" / "countdown" / "train.jsonl"), "--limit", "100000", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    first = process.stdout.readline()
    process.stdout.close()
    _, errors = process.communicate(timeout=120)
    assert first.startswith(b"{") or b"problems" in first
    assert process.returncode == 141 and b"Broken pipe" not in errors and b"Traceback" not in errors, errors


# Numbers a flag cannot mean: refused by argparse with the flag named (they were accepted: a negative limit
# cut problems from the end, a negative depth showed nothing, a budget of 10**9 allocated terabytes).
@pytest.mark.parametrize("argv, words", [
    (["tasks", "show", DEV, "--limit", "-5"], ("--limit", "-5")),
    (["eval", "--tasks", DEV, "--model", BASE, "--limit", "-5"], ("--limit", "-5")),
    (["eval", "--tasks", DEV, "--model", BASE, "--budget", "1000000000"], ("--budget", "4,096")),
    (["eval", "--tasks", DEV, "--model", BASE, "--max-new-tokens", "0"], ("--max-new-tokens",)),
    (["compare", "--tasks", DEV, "--model", BASE, "--limit", "-5"], ("--limit", "-5")),
    (["compare", "--tasks", DEV, "--model", BASE, "--budgets", "4,100000"], ("--budgets", "100000")),
    (["compare", "--tasks", DEV, "--model", BASE, "--budgets", "4,x"], ("--budgets", "'x'")),
    (["tree", "show", "RUN", "--problem", "p", "--depth", "-1"], ("--depth", "-1")),
    (["tree", "list", "RUN", "--round", "-2"], ("--round", "-2")),
    (["export", "RUN", "--kind", "sft", "--out", "x.jsonl", "--round", "-1"], ("--round", "-1")),
])
def test_numbers_a_flag_cannot_mean_are_refused(capsys, argv, words):
    code, output = lab(capsys, *argv)
    assert_refused(code, output, *words)


def test_the_library_refuses_a_budget_past_the_bound():
    from search import MAX_ANSWERS, Budget
    from selfplay.answering.evaluate import evaluate
    with pytest.raises(ValueError, match="at most 4,096 answers"):
        evaluate(None, [], "sample", MAX_ANSWERS + 1)
    with pytest.raises(ValueError, match="at most 4,096 answers"):
        Budget.from_answers(10**9, 64)


# A config.json whose standard keys disagree with the weights or make no sense: refused, where it used to
# load with weights dropped or drawn fresh and answer nonsense (0 layers, 9 layers), raise a traceback
# (another vocabulary size), answer nothing (a context of -1) or read "calculator" letter by letter.
@pytest.mark.parametrize("settings, words", [
    ({"num_hidden_layers": 0}, ("do not fit config.json", "unexpected keys")),
    ({"num_hidden_layers": 9}, ("do not fit config.json", "missing keys")),
    ({"vocab_size": 3}, ("config.json", "shapes do not fit")),
    ({"hidden_size": 64}, ("config.json", "shapes do not fit")),
    ({"max_position_embeddings": -1}, ("max_position_embeddings", "-1")),
    ({"selfplay_tools": "calculator"}, ("selfplay_tools must be a list", "'calculator'")),
])
def test_eval_model_whose_config_does_not_fit_its_weights_is_refused(capsys, model_copy, settings, words):
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, **settings}))
    code, output = lab(capsys, *eval_argv("--model", model_copy))
    assert code == 2 and "Traceback" not in output, output
    error_line = [line for line in output.splitlines() if line.startswith("lab: error:")][-1]
    assert str(model_copy) in error_line and all(word in error_line for word in words), output

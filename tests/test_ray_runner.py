"""`RayExecutor` on one small local cluster: exactly-once delivery, crashes, adapters, errors, `ray job submit`.

The sample functions and the fake policy are module-level (actors import them by name) and log
what they do to files, since they run in other processes. The real-model test and the job
submission test need no network; the latter starts its own head node with `ray start --block`
and stops it by pid (`ray stop` would stop every Ray process on the machine).
"""
import dataclasses
import functools
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import ray

from selfplay.execution import ray_runner, shipping
from selfplay.loop import work
from selfplay.execution.ray_runner import ClusterError, RayExecutor, SamplingError
from selfplay.tasks import Problem, load_problems
from selfplay.loop.work import ProblemTrees, SampleJob

REPO = Path(__file__).resolve().parent.parent
# What the `ray job submit` test runs ({out}: a fresh directory outside the uploaded copy): the
# smoke preset of the main job, as the README submits the default one.
JOB_COMMAND = ["python", "-m", "jobs.improve", "--preset", "smoke", "--quiet", "--out", "{out}"]


# --- fakes that run inside the actors --------------------------------------------------------

def log_line(path: str, text: str) -> None:
    with open(path, "a") as handle:  # one short append per event: atomic enough across processes
        handle.write(f"{os.getpid()} {text}\n")


def read_log(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()] if path.exists() else []


class FakePolicy:
    def __init__(self, log: str) -> None:
        self.log, self.adapter_dir = log, None

    def load_adapter(self, adapter_dir: str) -> None:
        """Holds the adapter's name, read from the copy this actor was sent (never the driver's path)."""
        self.adapter_dir = (Path(adapter_dir) / "name").read_text()
        log_line(self.log, f"adapter {self.adapter_dir} from {adapter_dir}")

    def unload_adapter(self) -> None:
        self.adapter_dir = None
        log_line(self.log, "unload")


def fake_policy(log: str, model_dir: str, threads: int, device: str) -> FakePolicy:
    log_line(log, f"base {model_dir} threads={threads} device={device}")
    return FakePolicy(log)


def echo_sample(policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    return ProblemTrees(problem.id, [{"adapter": policy.adapter_dir, "round": job.round}], tokens=1, wall_s=0.0)


def crash_once(marker: str, policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    """Kills its worker process in the middle of problem p3, the first time only."""
    if problem.id == "p3" and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return echo_sample(policy, problem, job)


def fail_on(bad_id: str, log: str, policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    log_line(log, f"attempt {problem.id}")
    if problem.id == bad_id:
        raise ValueError("a bug in sampling")
    return echo_sample(policy, problem, job)


def slow_first_try(log: str, slow_id: str, policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    """Logs every attempt; the first attempt at `slow_id` takes 3 s, everything else 0.05 s."""
    first = f"attempt {problem.id}" not in {event for _, event in read_log(Path(log))}
    log_line(log, f"attempt {problem.id}")
    time.sleep(3.0 if first and problem.id == slow_id else 0.05)
    return echo_sample(policy, problem, job)


def slow_sample(policy, problem: Problem, job: SampleJob) -> ProblemTrees:
    time.sleep(30)
    return echo_sample(policy, problem, job)


def broken_policy(model_dir: str, threads: int, device: str):
    raise FileNotFoundError(f"{model_dir}: no such model directory")


# --- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.delenv("RAY_ADDRESS", raising=False)
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        try:
            yield
        finally:
            ray.shutdown()


def wait_until(check, timeout_s: float, what: str, poll_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"{what} within {timeout_s:.0f} s")


def base_loads(tmp_path: Path) -> int:
    return sum(event.startswith("base") for _, event in read_log(tmp_path / "policy.log"))


def problems(count: int) -> list[Problem]:
    return [Problem(id=f"p{i}", task="qa", prompt=f"question {i}", answer=str(i), tests=None) for i in range(count)]


def job(adapter_dir: str | None = None, round_index: int = 1) -> SampleJob:
    return SampleJob(round=round_index, model_dir="/models/base", adapter_dir=adapter_dir, strategy="best_of_n",
                     budget=2, seed=0)


def executor(tmp_path: Path, sample_fn=echo_sample, **options) -> RayExecutor:
    factory = functools.partial(fake_policy, str(tmp_path / "policy.log"))
    options = {"max_in_flight_per_worker": 2, "stall_timeout_s": 120.0, "poll_s": 0.2, **options}
    return RayExecutor(2, sample_fn=sample_fn, policy_factory=factory, **options)


def run_collect(runner: RayExecutor, items: list[Problem], sample_job: SampleJob, each=None) -> list[ProblemTrees]:
    results = []

    def on_result(result: ProblemTrees) -> None:
        results.append(result)
        if each is not None:
            each(result)

    runner.run(items, sample_job, on_result)
    return results


# --- tests -----------------------------------------------------------------------------------

def test_every_problem_comes_back_exactly_once(cluster, tmp_path):
    with executor(tmp_path) as runner:
        results = run_collect(runner, problems(12), job())
    ids = [result.problem_id for result in results]
    assert len(ids) == 12 and set(ids) == {f"p{i}" for i in range(12)}
    workers = {result.worker.split("@")[0] for result in results}
    assert workers == {"ray-0", "ray-1"}  # both actors got work
    assert [event for _, event in read_log(tmp_path / "policy.log")] == \
        ["base /models/base threads=1 device=cpu"] * 2


def test_worker_crash_mid_problem_loses_nothing_and_repeats_nothing(cluster, tmp_path):
    marker = tmp_path / "crashed"
    with executor(tmp_path, sample_fn=functools.partial(crash_once, str(marker))) as runner:
        results = run_collect(runner, problems(8), job())
        wait_until(lambda: base_loads(tmp_path) == 3, 60, "the dead actor restarted", 0.1)  # 2 actors, 1 restart
    assert marker.exists()  # the worker really died in p3
    ids = [result.problem_id for result in results]
    assert sorted(ids) == sorted(f"p{i}" for i in range(8))


def test_actor_killed_during_a_run_is_restarted_and_its_problems_resubmitted(cluster, tmp_path):
    log = tmp_path / "attempts.log"
    killed = []

    def kill_the_other_actor_mid_problem(result):
        if killed:
            return
        # p0 (fast) went to ray-0, p1 (3 s) to ray-1: once p1 has started, ray-1 is in the middle of it
        assert result.problem_id == "p0" and result.worker.startswith("ray-0@")
        wait_until(lambda: ("attempt p1" in {event for _, event in read_log(log)}), 30, "p1 started", 0.02)
        ray.kill(runner.actors[1], no_restart=False)
        killed.append(True)

    sample_fn = functools.partial(slow_first_try, str(log), "p1")
    with executor(tmp_path, sample_fn=sample_fn) as runner:
        results = run_collect(runner, problems(10), job(), each=kill_the_other_actor_mid_problem)
        wait_until(lambda: base_loads(tmp_path) == 3, 60, "the killed actor restarted", 0.1)
    ids = [result.problem_id for result in results]
    assert killed and len(ids) == 10 and set(ids) == {f"p{i}" for i in range(10)}
    attempts = Counter(event for _, event in read_log(log))
    assert attempts["attempt p1"] == 2  # killed in the middle, run again


def adapter(tmp_path: Path, name: str) -> str:
    path = tmp_path / name / "adapter"
    path.mkdir(parents=True)
    (path / "name").write_text(name)
    return str(path)


def test_adapter_is_switched_per_job_without_reloading_the_base(cluster, tmp_path):
    first, second = adapter(tmp_path, "round-1"), adapter(tmp_path, "round-2")
    with executor(tmp_path) as runner:
        base = run_collect(runner, problems(4), job(None, 1))
        one = run_collect(runner, problems(4), job(first, 2))
        shutil.rmtree(first)  # sent once per run through the object store: the driver's copy is not read again
        two = run_collect(runner, problems(4), job(second, 3))
        back = run_collect(runner, problems(4), job(None, 4))
    assert {tree["adapter"] for result in base for tree in result.trees} == {None}
    assert {tree["adapter"] for result in one for tree in result.trees} == {"round-1"}
    assert {tree["adapter"] for result in two for tree in result.trees} == {"round-2"}
    assert {tree["adapter"] for result in back for tree in result.trees} == {None}
    events_by_pid = {}
    for pid, event in read_log(tmp_path / "policy.log"):
        events_by_pid.setdefault(pid, []).append(event)
    assert len(events_by_pid) == 2
    for events in events_by_pid.values():  # each actor: one base load, then one swap per new adapter
        assert [event.split(" from ")[0] for event in events] == \
            ["base /models/base threads=1 device=cpu", "adapter round-1", "adapter round-2", "unload"]
        local = [event.split(" from ")[1] for event in events if " from " in event]
        assert not any(path.startswith(str(tmp_path)) for path in local)  # each actor's own unpacked copy


def test_a_failing_problem_is_named_after_bounded_retries(cluster, tmp_path):
    log = tmp_path / "attempts.log"
    with executor(tmp_path, sample_fn=functools.partial(fail_on, "p2", str(log)), retries=2) as runner:
        with pytest.raises(SamplingError, match="problem p2 failed: sampling raised 3 times.*a bug in sampling") \
                as error:
            run_collect(runner, problems(6), job())
    assert error.value.problem_id == "p2"
    assert [event for _, event in read_log(log)].count("attempt p2") == 3


def test_workers_that_cannot_load_the_model_fail_the_run_at_once(cluster, tmp_path):
    runner = RayExecutor(2, sample_fn=echo_sample, policy_factory=broken_policy, stall_timeout_s=120.0, poll_s=0.2)
    with runner, pytest.raises(ClusterError, match="(?s)worker ray-.* failed to start.*no such model directory"):
        runner.run(problems(3), job(), lambda result: None)


def test_no_progress_raises_within_the_stall_timeout(cluster, tmp_path):
    started = time.monotonic()
    with executor(tmp_path, sample_fn=slow_sample, stall_timeout_s=2.0) as runner:
        with pytest.raises(ClusterError, match="no problem finished in 2 s"):
            run_collect(runner, problems(4), job())
    assert time.monotonic() - started < 25


def test_duplicate_problem_ids_are_refused(tmp_path):
    runner = executor(tmp_path)
    with pytest.raises(ValueError, match="duplicate problem ids"):
        runner.run(problems(2) + problems(1), job(), lambda result: None)
    assert runner.actors == []  # refused before any actor was started


def test_connect_turns_token_auth_off_only_for_a_cluster_it_starts(monkeypatch):
    calls = []
    monkeypatch.setattr(ray_runner.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray_runner.ray, "init", lambda **kw: calls.append((kw, os.environ.get("RAY_AUTH_MODE"))))
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setattr(ray_runner, "_existing_cluster", lambda: None)
    assert ray_runner.connect(num_cpus=3) is True
    assert calls[-1] == ({"num_cpus": 3, "logging_level": logging.WARNING}, "disabled")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the user's choice is kept
    assert ray_runner.connect(num_cpus=3) is True and calls[-1][1] == "token"
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.setattr(ray_runner, "_existing_cluster", lambda: "10.0.0.7:6379")  # joining: left to the user
    assert ray_runner.connect(num_cpus=3) is False
    assert calls[-1] == ({"address": "10.0.0.7:6379", "logging_level": logging.WARNING}, None)


def test_ray_address_names_the_cluster_to_join(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:6390")
    assert ray_runner._existing_cluster() == "10.0.0.9:6390"


@pytest.mark.slow
def test_real_model_samples_countdown_trees(cluster, tmp_path):
    from tests.tiny_models import save_tiny_model
    model_dir = save_tiny_model(tmp_path / "tiny-model", hidden=32, heads=2, kv_heads=1)
    items = load_problems(REPO / "datasets" / "countdown" / "train.jsonl")[:4]
    sample_job = SampleJob(round=1, model_dir=str(model_dir), adapter_dir=None, strategy="best_of_n", budget=2,
                           seed=0)
    with RayExecutor(2, poll_s=0.2) as runner:
        results = run_collect(runner, items, sample_job)
    assert sorted(result.problem_id for result in results) == sorted(problem.id for problem in items)
    for result in results:
        assert result.tokens > 0 and result.trees
        assert all(tree["format"] == "selfplay.tree/1" and tree["problem_id"] == result.problem_id
                   for tree in result.trees)


# --- ray job submit --------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def dashboard_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/version", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_ray_job_submit_runs_the_uploaded_project(tmp_path):
    venv_bin = Path(sys.executable).parent
    ray_cli = str(venv_bin / "ray")
    # The job's `python` is looked up on the head's PATH: the venv's must come first (docs/ray.md).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard, client, agent, agent_grpc, metrics, runtime_env = free_ports(7)
    url = f"http://127.0.0.1:{dashboard}"
    temp_dir = tempfile.mkdtemp(prefix="rayjob-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    head_log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--num-cpus", "2", "--disable-usage-stats",
         f"--temp-dir={temp_dir}", f"--port={gcs}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
         f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
         f"--runtime-env-agent-port={runtime_env}"],
        env=env, stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: head.poll() is not None or dashboard_up(url), 120, "the head node's dashboard up")
        assert head.poll() is None, (tmp_path / "head.log").read_text()
        command = [part.format(out=tmp_path / "run") for part in JOB_COMMAND]
        submit = subprocess.run([ray_cli, "job", "submit", "--address", url, "--working-dir", str(REPO), "--no-wait",
                                 "--", *command], env=env, capture_output=True, text=True, timeout=120)
        output = submit.stdout + submit.stderr
        assert submit.returncode == 0, output
        job_id = re.search(r"raysubmit_\w+", output).group(0)

        def finished():  # the CLI logs "Job '<id>' succeeded" (or failed, was stopped) to stderr
            status = subprocess.run([ray_cli, "job", "status", "--address", url, job_id], env=env,
                                    capture_output=True, text=True, timeout=60)
            match = re.search(rf"Job '{job_id}' (succeeded|failed|was stopped)", status.stdout + status.stderr)
            return match and match.group(1)

        state = wait_until(finished, 600, "the job finished")
        logs = subprocess.run([ray_cli, "job", "logs", "--address", url, job_id], env=env, capture_output=True,
                              text=True, timeout=60).stdout
        assert state == "succeeded", logs
        run = tmp_path / "run"
        assert "rounds" in logs and "fast" in logs and "deliberate" in logs, logs  # the round table
        assert (run / "round-2" / "DONE").is_file() and (run / "round-2" / "adapter").is_dir()
        assert json.loads((run / "round-2" / "metrics.json").read_text())["eval"]["fast"]["n"] > 0
        unpacked = Path(temp_dir, "session_latest", "runtime_resources", "working_dir_files")
        uploaded = [path for path in unpacked.glob("_ray_pkg_*") if path.is_dir()]
        assert len(uploaded) == 1, uploaded
        files = [path for path in uploaded[0].rglob("*") if path.is_file()]
        names = {part for path in files for part in path.relative_to(uploaded[0]).parts}
        assert not names & {".venv", ".git", "runs", "__pycache__"}, sorted(names)
        # what every job uploads: the code, the committed splits (16 MB) and the built-in models (13 MB) it reads
        assert sum(path.stat().st_size for path in files) < 40 * 2**20
    finally:
        head.terminate()  # `ray start --block` stops the processes of its own node on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(timeout=30)
        head_log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


# --- nothing shared by path --------------------------------------------------------------------

def test_a_directory_travels_as_bytes_and_cannot_escape(tmp_path):
    source = tmp_path / "adapter"
    (source / "sub").mkdir(parents=True)
    (source / "adapter_config.json").write_text("{}")
    (source / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    files = shipping.pack_dir(source)
    assert files == {"adapter_config.json": b"{}", "sub/weights.bin": b"\x00\x01"}
    copy = shipping.unpack_dir(files, tmp_path / "copy")
    assert (copy / "sub" / "weights.bin").read_bytes() == b"\x00\x01"
    for name in ("../evil", "/etc/evil", "sub/../../evil"):
        with pytest.raises(ValueError, match="outside"):
            shipping.unpack_dir({name: b"x"}, tmp_path / "other")
    assert not (tmp_path / "evil").exists()
    with pytest.raises(FileNotFoundError, match="no such directory"):
        shipping.pack_dir(tmp_path / "missing")


def test_each_node_finds_the_model_in_its_own_working_directory(tmp_path, monkeypatch):
    driver = tmp_path / "driver"
    (driver / "models" / "base").mkdir(parents=True)
    monkeypatch.chdir(driver)
    sent = shipping.portable_model(str(driver / "models" / "base"))
    assert sent == ("models/base", str(driver / "models" / "base"))
    worker = tmp_path / "worker"  # another node's unpacked copy of the working directory
    (worker / "models" / "base").mkdir(parents=True)
    monkeypatch.chdir(worker)
    assert shipping.resolve_model(sent) == str(worker / "models" / "base")
    monkeypatch.chdir(tmp_path)  # no copy here, but the driver's path is visible (a shared disk)
    assert shipping.resolve_model(sent) == str(driver / "models" / "base")
    with pytest.raises(FileNotFoundError, match=f"is not on node {socket.gethostname()}"):
        shipping.resolve_model((None, "/shared/models/missing"))
    assert shipping.resolve_model((None, "org/some-model")) == "org/some-model"  # a hub id, as given
    assert shipping.portable_model("/elsewhere/model") == (None, "/elsewhere/model")


@pytest.mark.slow
def test_evaluation_over_the_actors_equals_one_process(cluster, tmp_path):
    from tests.tiny_models import save_tiny_model
    model_dir = save_tiny_model(tmp_path / "tiny-model", hidden=32, heads=2, kv_heads=1)
    items = load_problems(REPO / "datasets" / "countdown" / "dev.jsonl")[:11]  # two batches of 8, one short
    local = work.LocalExecutor(threads=1)
    with RayExecutor(2, poll_s=0.2) as runner:
        for strategy, budget, together in (("greedy", 1, 1), ("best_of_n", 2, 1), ("mcts", 2, 4)):
            request = work.EvalRequest(str(model_dir), None, strategy, budget, seed=3, max_new_tokens=24,
                                       together=together)  # mcts: 4 problems a call, searched together
            spread = runner.evaluate(items, request)
            alone = local.evaluate(items, dataclasses.replace(request, together=1))
            assert [vars(o) for o in spread.problems] == [vars(o) for o in alone.problems]
            assert (spread.n, spread.solved, spread.tokens, spread.decode_tokens) == \
                (alone.n, alone.solved, alone.tokens, alone.decode_tokens)

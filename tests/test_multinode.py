"""The main job on a two-node Ray cluster (`ray.cluster_utils.Cluster`, one CPU per node, the second
node with its own temp dir): a smoke round whose workers run on both nodes, and a round that
survives losing a node in the middle of sampling.

Both nodes run on this machine, so "nothing shared by path" is checked by what the driver sends
(adapters as bytes, the model as a path relative to the working directory) and by the adapter's
recorded base model, not by separate disks.
"""
import json
import time
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from selfplay.runfiles import treeio
from selfplay.execution.ray_runner import RayExecutor
from selfplay.loop.rounds import improve
from selfplay.runfiles.runconfig import load_config

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """A head node and a second node, one CPU each: two workers must land on different nodes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.delenv("RAY_ADDRESS", raising=False)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            second = cluster.add_node(num_cpus=1, temp_dir=str(tmp_path_factory.mktemp("second-node")))
            ray.init(address=cluster.address, logging_level="WARNING")
            cluster.wait_for_nodes(timeout=120)
            yield cluster, second
        finally:
            ray.shutdown()
            cluster.shutdown()


class RecordingExecutor(RayExecutor):
    """Records which worker sampled each problem, and may act after the first result of a round."""

    def __init__(self, *args, after_first=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workers_seen, self.after_first = [], after_first

    def run(self, problems, job, on_result) -> None:
        def record(result) -> None:
            self.workers_seen.append(result.worker.split("@")[0])
            on_result(result)
            if self.after_first is not None and len(self.workers_seen) == 1:
                self.after_first()

        super().run(problems, job, record)


def smoke_config(out: Path, *extra: str):
    return load_config("smoke", [f"out={out}", "rounds=1", "workers=2", "problems_per_round=8", "eval.limit=4", *extra])


def check_run(out: Path, config) -> dict:
    """Every problem once in the trees file, a finished round, an adapter the run's names load."""
    round_dir = out / "round-1"
    ids = [tree.problem_id for tree in treeio.read_trees_prefix(round_dir / "trees.jsonl.gz")]
    assert len(ids) == config.problems_per_round and len(set(ids)) == len(ids)
    metrics = json.loads((round_dir / "metrics.json").read_text())
    assert metrics["eval"]["fast"]["n"] == 4 and metrics["train"]["rows"] >= 0
    adapter = json.loads((round_dir / "adapter" / "adapter_config.json").read_text())
    # the driver's absolute path of the preset's model (loadable from any folder), not a worker's copy
    assert adapter["base_model_name_or_path"] == str((REPO / "models" / "base").resolve())
    from selfplay.model.policy import Policy
    policy = Policy.from_pretrained(adapter["base_model_name_or_path"], round_dir / "adapter")
    assert policy.adapter_dir is not None
    card = (round_dir / "adapter" / "README.md").read_text()
    assert "selfplay-actor-" not in card and "selfplay-actor-" not in json.dumps(metrics)
    return metrics


def test_a_smoke_round_runs_on_both_nodes(two_nodes, tmp_path):
    config = smoke_config(tmp_path / "run", "train_reward_model=true", "reward_model={max_steps: 2}")
    with RecordingExecutor(2, poll_s=0.2) as executor:
        improve(config, executor, progress=False, log=lambda text: None)
        nodes = {f"ray-{index}": ray.get(actor.node_id.remote(), timeout=60)
                 for index, actor in enumerate(executor.actors)}
    assert len(set(nodes.values())) == 2  # one worker per node
    assert set(executor.workers_seen) == {"ray-0", "ray-1"}  # and both sampled
    metrics = check_run(tmp_path / "run", config)
    scorer_dir = tmp_path / "run" / "round-1" / "reward_model"  # trained on an actor too, written by the driver
    scorer = json.loads((scorer_dir / "scorer.json").read_text())
    assert scorer["base_model"] == str((REPO / "models" / "base").resolve())
    assert metrics["train"]["reward_model"]["steps"] == 2
    from verifiers.reward_model import RewardModel
    assert RewardModel.load(scorer_dir, base_model=scorer["base_model"]).score(["Q\n"], ["a"])


def test_a_round_completes_when_a_node_is_lost_mid_round(two_nodes, tmp_path):
    cluster, second = two_nodes
    config = smoke_config(tmp_path / "run")

    def lose_the_second_node() -> None:
        cluster.remove_node(second, allow_graceful=False)

    with RecordingExecutor(2, poll_s=0.2, after_first=lose_the_second_node) as executor:
        improve(config, executor, progress=False, log=lambda text: None)
    check_run(tmp_path / "run", config)
    gone = second.node_id
    deadline = time.monotonic() + 120  # the control store marks a killed node dead after its health checks
    while any(node["NodeID"] == gone and node["Alive"] for node in ray.nodes()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not any(node["NodeID"] == gone and node["Alive"] for node in ray.nodes())

"""The training actor borrows the waiting actors' threads for the finetune, then gives them back."""
import os

import torch

from selfplay.execution.ray_runner import Sampler


def test_finetune_runs_on_the_run_s_threads_at_most_the_node_s_cores_and_restores_its_own():
    sampler = Sampler("w0", (None, "unused"), lambda model_dir, threads, device: object(), lambda *args: None, 1, "cpu")
    seen = []
    sampler._finetune = lambda request, previous: seen.append(torch.get_num_threads()) or ({}, {})
    own = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert sampler.finetune(None, None, threads=2) == ({}, {})
        assert sampler.finetune(None, None, threads=10_000) == ({}, {})
        assert torch.get_num_threads() == 1  # back to the actor's own for sampling
        assert seen == [min(2, os.cpu_count()), os.cpu_count()]
    finally:
        torch.set_num_threads(own)

"""Which judge learns from one round of graded word-problem answers: the LoRA reward model or the features?

Splits a round's trees by problem (70% / 30%, `scorer_data.split_by_problem`), trains the lab's
reward model (`verifiers.reward_model.train_reward_model`: LoRA + a fresh head on the base, TRL's
RewardTrainer on the (verified, failed) pairs of the 70%) and fits the outcome scorer
(`verifiers.process_scorer.fit_outcome_scorer`) on the same 70%, and ranks the 30%'s graded answers:
AUROC of the reward model, of the features alone (each answer scored by itself), and of the
features with agreement (each problem's answers scored together).

    python benchmarks/judges.py --run /tmp/words/run1 --round 1

Measured on the arith preset's round 1 (512 problems, 3,911 answers): reward model 0.52 (516
pairs, 66 steps, pair loss 0.68 -> 0.57), features alone 0.78, with agreement 0.84.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--out", default="/tmp/judges-reward-model")
    args = parser.parse_args(argv)
    import torch
    import yaml
    torch.set_num_threads(1)
    from selfplay.runfiles import rundir, treeio
    from selfplay.loop.rounds import Context
    from selfplay.runfiles.runconfig import from_dict
    from selfplay.loop.scorer_round import round_prompts
    from verifiers.process_scorer import fit_outcome_scorer, held_out_report
    from verifiers.reward_model import train_reward_model
    from verifiers.scorer_config import RewardModelConfig
    from verifiers.scorer_data import graded_answers, preference_pairs, split_by_problem
    from verifiers.scorer_metrics import auroc
    run = rundir.RunDir(Path(args.run))
    config = from_dict(yaml.safe_load(run.config.read_text()))
    trees = treeio.read_trees_prefix(run.round(args.round).trees)
    prompts = round_prompts(Context(config, run, executor=None, progress=False), {t.problem_id for t in trees})
    train, held = split_by_problem(trees, 0.3, seed=0)
    answers = graded_answers(held, prompts)
    labels = [a.passed for a in answers]

    def ranked(model) -> float | None:
        return auroc(model.score([a.prompt for a in answers], [a.completion for a in answers]), labels)
    features = fit_outcome_scorer(train, prompts)
    report = {"held_out_answers": len(answers), "held_out_passed": sum(labels),
              "features_alone_auroc": ranked(features),
              "features_with_agreement_auroc": held_out_report(features, held, prompts)["auroc"]}
    pairs = preference_pairs(train, prompts, robustness_copies=False)
    start = time.perf_counter()
    reward_model = train_reward_model(pairs, str(config.path(config.model)), args.out, RewardModelConfig())
    report.update(reward_model_auroc=ranked(reward_model), pairs=len(pairs),
                  reward_model_training=reward_model.info.get("training"), reward_model_s=round(time.perf_counter() - start))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

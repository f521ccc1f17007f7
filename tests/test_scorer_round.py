"""A round's scorers: fitted on the round's graded trees, saved in the round directory with a
held-out AUROC, read back (not refitted) when the round resumes; the arith preset turns them on."""
import json

import pytest

from selfplay.commands import improve as improve_cli
from selfplay.runfiles import rundir, treeio
from selfplay.loop.rounds import Context
from selfplay.runfiles.runconfig import load_config
from selfplay.loop.scorer_round import OUTCOME_DIR, PROCESS_DIR, scorer_phase
from selfplay.tasks import arith, save_problems
from tests.test_process_scorer import graded_trees
from tests.tiny_models import save_tiny_model
from verifiers.process_scorer import load_feature_scorer


def test_the_round_fits_saves_and_reports_both_scorers(tmp_path):
    problems = arith.generate(60, 1, level="distract")
    save_problems(problems, tmp_path / "train.jsonl")
    save_tiny_model(tmp_path / "model")
    config = load_config("arith", [f"model={tmp_path / 'model'}", f"curriculum.levels=[{tmp_path / 'train.jsonl'}]",
                                   "curriculum.start=1", "train_scorer=true", f"out={tmp_path / 'run'}"])
    run = rundir.RunDir(config.run_dir())
    round_dir = run.round(1)
    round_dir.path.mkdir(parents=True)
    trees, _ = graded_trees(60, seed=1)  # the same problems: their ids are in the train file
    treeio.append_trees(round_dir.trees, [tree.to_dict() for tree in trees])
    context = Context(config, run, executor=None, progress=False)
    record = scorer_phase(context, round_dir)
    assert record["outcome"]["training"]["answers"] == 180 and record["process"]["training"]["prefixes"] == 180
    held_out = record["outcome"]["held_out"]
    assert held_out["n_answers"] == 36 and held_out["auroc"] > 0.9  # 12 held-out problems, 3 answers each
    outcome = load_feature_scorer(round_dir.path / OUTCOME_DIR)
    assert outcome.role == "outcome" and load_feature_scorer(round_dir.path / PROCESS_DIR).role == "process"
    (round_dir.path / OUTCOME_DIR / "scorer.json").write_text(
        json.dumps({**json.loads((round_dir.path / OUTCOME_DIR / "scorer.json").read_text()), "training": "kept"}))
    assert scorer_phase(context, round_dir)["outcome"]["training"] == "kept"  # read back, not refitted
    row = improve_cli.round_row({"round": 1, "train": {"scorer": record}})
    assert row["scorer_auroc"] == held_out["auroc"]


def test_the_arith_preset_climbs_from_easy_word_problems_to_the_hard_ones():
    config = load_config("arith")
    assert config.model == "models/base" and config.curriculum.levels[0] == "datasets/arith/train.jsonl"
    assert [level.split("/")[-2] for level in config.curriculum.levels[1:]] == ["distract", "deep", "long"]
    assert config.dev_files == ("datasets/arith/dev.jsonl", "datasets/arith/hard/dev.jsonl")
    assert config.eval.strategy == "majority" and config.selection.hindsight_rows == 0
    for name in (*config.curriculum.levels, *config.dev_files):
        assert config.path(name).is_file()


@pytest.mark.slow
def test_lab_eval_answers_with_a_rounds_scorer(tmp_path, capsys):
    from selfplay.commands.lab import main as eval_main
    from verifiers.process_scorer import FEATURES, FeatureScorer
    save_tiny_model(tmp_path / "model")
    problems = arith.generate(2, 3, level="distract")
    save_problems(problems, tmp_path / "dev.jsonl")
    FeatureScorer([0.0] * len(FEATURES), "outcome").save(tmp_path / "outcome_scorer")
    for strategy in ("weighted_majority", "best_of_n", "beam", "mcts"):
        assert eval_main(["eval", "--model", str(tmp_path / "model"), "--tasks", str(tmp_path / "dev.jsonl"), "--strategy",
                          strategy, "--budget", "2", "--max-new-tokens", "8", "--scorer",
                          str(tmp_path / "outcome_scorer"), "--json", "--threads", "1"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["n"] == 2 and summary["scorer"] == str(tmp_path / "outcome_scorer")
        assert summary["strategy"] == strategy

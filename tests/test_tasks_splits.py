"""The committed splits: sizes, no overlap (and no shared funcs function), rebuilt byte for
byte; and the datasets/ folder never shadows Hugging Face `datasets`."""
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selfplay.tasks import GENERATORS, build_splits, content_key, default_sizes, load_problems, split_overlap
from selfplay.tasks.countdown import HARD_LEVELS, LEVELS, level_of, solve
from selfplay.tasks.funcs.families import BY_NAME, FAMILY_NAMES
from selfplay.tasks.countdown.splits import HARD, countdown_level_splits
from selfplay.tasks.funcs.pipe_splits import HARD as PIPES_HARD
from selfplay.tasks.funcs.splits import FUNCS_MIN_TO_HOLD_OUT, partition_functions
from selfplay.tasks.splits import SPLITS, SplitSizes, function_overlap
from selfplay.tasks.arith import problems as arith
from selfplay.tasks.arith.splits import HARD as ARITH_HARD
from verifiers.countdown import check_countdown

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = default_sizes()
DATASETS = REPO / "datasets"


def committed(task: str, split: str) -> Path:
    return DATASETS / task / f"{split}.jsonl"


def committed_files(task: str) -> list[Path]:
    """Every committed split file of a task, all levels, the hard splits (copies) left out."""
    return sorted(path for path in (DATASETS / task).rglob("*.jsonl")
                  if not any(hard in path.as_posix() for hard in (HARD, ARITH_HARD, PIPES_HARD)))


@pytest.mark.parametrize("task", sorted(DEFAULT_SIZES))
def test_committed_files_load_with_documented_sizes(task):
    for split in SPLITS:
        problems = load_problems(committed(task, split))
        assert len(problems) == getattr(DEFAULT_SIZES[task], split)
        assert {p.task for p in problems} == {task.split("/")[0]}


@pytest.mark.parametrize("task", sorted(DEFAULT_SIZES))
def test_committed_splits_share_no_content_and_no_ids(task):
    for first, second in itertools.combinations(SPLITS, 2):
        assert split_overlap([committed(task, first), committed(task, second)]) == set()


@pytest.mark.parametrize("task", ["countdown", "arith", "funcs"])
def test_no_problem_is_in_two_files_of_any_level(task):
    paths = committed_files(task)
    assert len(paths) == 3 * sum(name.split("/")[0] == task for name in DEFAULT_SIZES)
    assert split_overlap(paths) == set()


def test_committed_countdown_levels_are_what_their_folder_says():
    for split in SPLITS:
        easy = load_problems(committed("countdown", split))
        assert {level_of(p) for p in easy} == {"easy"}
        assert all("level" not in p.meta and "use_all" not in p.meta for p in easy)
        for level in ("std3", "std4", "std5"):
            problems = load_problems(committed(f"countdown/{level}", split))
            assert {level_of(p) for p in problems} == {level} and all(p.meta["use_all"] is True for p in problems)
            assert {len(p.meta["numbers"]) for p in problems} == set(LEVELS[level].n_numbers)


def test_committed_arith_levels_are_what_their_folder_says():
    for split in SPLITS:
        assert all("level" not in p.meta for p in load_problems(committed("arith", split)))
        long = load_problems(committed("arith/long", split))
        assert {p.meta["level"] for p in long} == {"long"} and {p.meta["steps"] for p in long} == {5, 6}


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_hard_split_is_the_standard_game_with_3_and_4_numbers(split):
    hard = load_problems(committed(HARD, split))
    levels = [load_problems(committed(f"countdown/{level}", split)) for level in HARD_LEVELS]
    interleaved = [p for group in zip(*levels) for p in group]
    assert hard == interleaved and len(hard) == 200
    assert [len(p.meta["numbers"]) for p in hard] == [3, 4] * 100  # any first N mix the two levels
    trained = {content_key(p) for path in committed_files("countdown") if path.name == "train.jsonl"
               for p in load_problems(path)}
    for problem in hard:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        assert all(1 <= n <= 20 for n in numbers) and 10 <= target <= 200
        assert problem.prompt.endswith("Each number exactly once.") and content_key(problem) not in trained
        assert check_countdown(numbers, target, problem.meta["solution"], use_all=True).passed
        assert len(solve(numbers, target, use_all=True)) == len(numbers) - 1
    assert not (DATASETS / HARD / "train.jsonl").exists()


def test_the_large_hard_test_is_the_hard_test_then_more_of_the_standard_game_seen_nowhere():
    large = load_problems(committed(HARD, "test-large"))
    assert len(large) == 1000 and large[:200] == load_problems(committed(HARD, "test"))
    assert [p.meta["level"] for p in large] == list(HARD_LEVELS) * 500
    elsewhere = {content_key(p) for path in committed_files("countdown") for p in load_problems(path)}
    elsewhere |= {content_key(p) for p in load_problems(committed(HARD, "dev"))}
    extra = large[200:]
    assert len({content_key(p) for p in extra}) == 800 and not elsewhere & {content_key(p) for p in extra}
    for problem in extra:
        numbers, target = problem.meta["numbers"], problem.meta["target"]
        assert all(1 <= n <= 20 for n in numbers) and 10 <= target <= 200
        assert check_countdown(numbers, target, problem.meta["solution"], use_all=True).passed


@pytest.mark.parametrize("split", ["dev", "test"])
def test_the_hard_word_problem_split_joins_distract_and_deep_and_nothing_trained(split):
    hard = load_problems(committed(ARITH_HARD, split))
    levels = [load_problems(committed(f"arith/{level}", split)) for level in arith.HARD_LEVELS]
    assert hard == [p for group in zip(*levels) for p in group] and len(hard) == 200
    assert [p.meta["level"] for p in hard] == ["distract", "deep"] * 100
    trained = {content_key(p) for path in committed_files("arith") if path.name == "train.jsonl"
               for p in load_problems(path)}
    assert not trained & {content_key(p) for p in hard}
    assert not (DATASETS / ARITH_HARD / "train.jsonl").exists()


def test_the_large_hard_word_problem_test_is_the_hard_test_then_more_seen_nowhere():
    large = load_problems(committed(ARITH_HARD, "test-large"))
    assert len(large) == 1000 and large[:200] == load_problems(committed(ARITH_HARD, "test"))
    assert [p.meta["level"] for p in large] == list(arith.HARD_LEVELS) * 500
    elsewhere = {content_key(p) for path in committed_files("arith") for p in load_problems(path)}
    elsewhere |= {content_key(p) for p in load_problems(committed(ARITH_HARD, "dev"))}
    extra = large[200:]
    assert len({content_key(p) for p in extra}) == 800 and not elsewhere & {content_key(p) for p in extra}
    assert split_overlap([committed(ARITH_HARD, "test-large"), committed(ARITH_HARD, "dev"),
                          *(path for path in committed_files("arith") if path.name == "train.jsonl")]) == set()


def test_a_level_skips_the_problems_of_earlier_sets():
    sizes = SplitSizes(train=20, dev=5, test=5)
    first = countdown_level_splits("std3", 0, sizes)
    taken = {content_key(p) for p in first["dev"] + first["train"]}
    again = countdown_level_splits("std3", 0, sizes, exclude=taken)
    assert not taken & {content_key(p) for problems in again.values() for p in problems}
    assert again["dev"] == first["test"]  # the same draws, the taken ones skipped


def test_split_overlap_finds_a_shared_problem(tmp_path):
    dev = load_problems(committed("countdown", "dev"))
    (tmp_path / "leak.jsonl").write_text(committed("countdown", "test").read_text() +
                                         committed("countdown", "dev").read_text().splitlines()[5] + "\n")
    shared = split_overlap([committed("countdown", "dev"), tmp_path / "leak.jsonl"])
    assert dev[5].id in shared and len(shared) == 2  # its id and its content key


def test_committed_funcs_splits_share_no_function():
    for first, second in itertools.combinations(SPLITS, 2):
        assert function_overlap([committed("funcs", first), committed("funcs", second)]) == set()
    keys = {split: [p.meta["function_key"] for p in load_problems(committed("funcs", split))] for split in SPLITS}
    assert len(set(keys["dev"])) == 100 and len(set(keys["test"])) == 100
    assert len(set(keys["train"])) >= 600


def test_function_overlap_finds_a_shared_function(tmp_path):
    rows = [json.loads(line) for line in committed("funcs", "dev").read_text().splitlines()[:3]]
    # same function, other cases: the content key differs but the function leaks
    leaked = {**rows[0], "id": "funcs-leak", "tests": {**rows[0]["tests"], "cases": rows[0]["tests"]["cases"][:-1]}}
    (tmp_path / "leak.jsonl").write_text(json.dumps(leaked) + "\n")
    assert split_overlap([committed("funcs", "dev"), tmp_path / "leak.jsonl"]) == set()
    assert function_overlap([committed("funcs", "dev"), tmp_path / "leak.jsonl"]) == {rows[0]["meta"]["function_key"]}
    # a row without function_key (an older file) is keyed by its family and params
    leaked["meta"] = {key: value for key, value in leaked["meta"].items() if key != "function_key"}
    (tmp_path / "old.jsonl").write_text(json.dumps(leaked) + "\n")
    assert function_overlap([committed("funcs", "dev"), tmp_path / "old.jsonl"]) == {rows[0]["meta"]["function_key"]}


def test_funcs_partition_gives_each_function_one_split():
    parts = partition_functions(seed=0, dev=100, test=100)
    for name in FAMILY_NAMES:
        keys = [json.dumps(params, sort_keys=True) for split in SPLITS for _, params in parts[name][split]]
        assert sorted(keys) == sorted(json.dumps(p, sort_keys=True) for p in BY_NAME[name].functions)
        lent = len(parts[name]["dev"]) + len(parts[name]["test"])
        assert lent == 0 or len(BY_NAME[name].functions) >= FUNCS_MIN_TO_HOLD_OUT
    assert sum(len(parts[name]["dev"]) for name in FAMILY_NAMES) == 100
    assert sum(len(parts[name]["test"]) for name in FAMILY_NAMES) == 100
    assert parts["span"]["train"] == [("span", {})] and parts["affine"]["dev"]
    assert partition_functions(seed=1, dev=100, test=100)["affine"]["dev"] != parts["affine"]["dev"]


def test_a_family_that_would_lend_too_much_is_refused():
    with pytest.raises(ValueError, match="cannot lend"):
        partition_functions(seed=0, dev=600, test=600)


def test_countdown_dev_and_test_hold_three_numbers_and_train_mixes():
    for split in ("dev", "test"):
        assert {len(p.meta["numbers"]) for p in load_problems(committed("countdown", split))} == {3}
    counts = [len(p.meta["numbers"]) for p in load_problems(committed("countdown", "train"))]
    assert counts.count(3) == counts.count(4) == 2000


def test_rebuilding_reproduces_the_committed_files(tmp_path):
    written = build_splits(tmp_path)
    rebuilt = sorted(path.relative_to(tmp_path) for paths in written.values() for path in paths.values())
    in_repo = sorted(path.relative_to(DATASETS) for path in DATASETS.rglob("*.jsonl") if "fixtures" not in path.parts)
    assert rebuilt == in_repo and len(rebuilt) == 3 * len(DEFAULT_SIZES) + 9  # + each hard dev, test and test-large
    for relative in rebuilt:
        assert (tmp_path / relative).read_bytes() == (DATASETS / relative).read_bytes(), f"{relative} differs"


def test_small_builds_are_deterministic_and_seeded(tmp_path):
    sizes = {"countdown": (30, 5, 5), "countdown/std3": (20, 3, 3), "countdown/std4": (20, 3, 3),
             "arith": (30, 5, 5), "funcs": (20, 4, 4)}
    first = build_splits(tmp_path / "a", seed=3, sizes=sizes)
    build_splits(tmp_path / "b", seed=3, sizes=dict(reversed(sizes.items())))  # one build order, whatever the dict's
    build_splits(tmp_path / "c", seed=4, sizes=sizes)
    assert sorted(first) == sorted([*sizes, HARD]) and sorted(first[HARD]) == ["dev", "test", "test-large"]
    for relative in (path.relative_to(tmp_path / "a") for paths in first.values() for path in paths.values()):
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
        assert (tmp_path / "a" / relative).read_bytes() != (tmp_path / "c" / relative).read_bytes()
    assert len(load_problems(first["funcs"]["train"])) == 20 and len(load_problems(first[HARD]["dev"])) == 6
    large = load_problems(first[HARD]["test-large"])  # the hard test first, then 4x as many per level again
    assert len(large) == 30 and large[:6] == load_problems(first[HARD]["test"])
    assert [p.meta["level"] for p in large] == ["std3", "std4"] * 15


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no built-in splits"):
        build_splits(tmp_path, sizes={"chess": (1, 1, 1)})


def test_generators_are_exposed_by_task_name():
    assert sorted(GENERATORS) == ["arith", "countdown", "funcs"]
    for task, generate in GENERATORS.items():
        assert [p.task for p in generate(2, seed=0)] == [task, task]


def test_committed_data_is_commit_sized():
    total = sum(path.stat().st_size for path in DATASETS.rglob("*") if path.is_file())
    # about 3.6 MB of first files, 3 MB of harder levels, 2 MB of word-problem levels and 6.5 MB of the
    # code world's (1.4 MB gzipped)
    assert total < 16_000_000


def test_datasets_folder_holds_no_python():
    assert [path for path in DATASETS.rglob("*.py")] == []
    assert not (DATASETS / "__init__.py").exists()


def test_import_datasets_from_repo_root_finds_hugging_face():
    result = subprocess.run([sys.executable, "-c", "import datasets; print(datasets.__file__)"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or result.stdout.strip() == "None":
        pytest.skip("Hugging Face datasets is not installed (import fails or finds only a namespace)")
    found = Path(result.stdout.strip()).resolve()
    assert not found.is_relative_to(DATASETS.resolve()), found
    assert found.parent.name == "datasets" and found.parent.parent.name in ("site-packages", "dist-packages")


def test_a_stray_init_in_datasets_would_be_caught(tmp_path):
    # The check above can fail: a copy of the layout with an __init__.py shadows the package.
    shutil.copytree(DATASETS / "fixtures", tmp_path / "datasets" / "fixtures")
    (tmp_path / "datasets" / "__init__.py").write_text("")
    result = subprocess.run([sys.executable, "-c", "import datasets; print(datasets.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert Path(result.stdout.strip()).resolve().is_relative_to(tmp_path.resolve())

"""Task data in the containers `datasets.load_dataset` reads: a .json array, .csv, a `save_to_disk`
folder, a folder of data files, a Hub id. Each gives the same problems as the jsonl it was made from,
and a bad row is named by file, line and field."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfplay.tasks import TaskFileError, load_problems
from selfplay.tasks.loader import read_jsonl

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "datasets" / "fixtures"


def rows_of(name: str) -> list[dict]:
    return [row for _, row in read_jsonl(FIXTURES / name)]


def same_problems(left, right) -> bool:
    return [p.to_dict() for p in left] == [p.to_dict() for p in right]


@pytest.mark.parametrize("name", ["gsm8k.jsonl", "funcs.jsonl", "countdown.jsonl", "mbpp.jsonl", "humaneval.jsonl",
                                  "mixed.jsonl"])
def test_a_json_array_reads_as_its_jsonl(tmp_path, name):
    path = tmp_path / name.replace(".jsonl", ".json")
    path.write_text(json.dumps(rows_of(name), indent=2))
    assert same_problems(load_problems(path), load_problems(FIXTURES / name))
    (tmp_path / "lines.json").write_text((FIXTURES / name).read_text())  # JSON Lines in a .json file
    assert same_problems(load_problems(tmp_path / "lines.json"), load_problems(FIXTURES / name))
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows_of(name)}))
    assert same_problems(load_problems(tmp_path / "wrapped.json"), load_problems(FIXTURES / name))


def test_a_bad_row_in_a_json_array_is_named_by_its_line(tmp_path):
    rows = rows_of("countdown.jsonl")
    rows[2] = {"numbers": [3, "five"], "target": 24}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows, indent=2))
    starts = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line == "  {"]
    with pytest.raises(TaskFileError, match=rf"bad.json:{starts[2]}: field 'numbers'"):
        load_problems(path)
    for text, words in [("[1, 2", "invalid JSON"), ('"rows"', "expected an array"), ("", "expected an array"),
                        ('{"a": [], "b": []}', "exactly one list"), ("[" * 100_000, "nested too deeply")]:
        path.write_text(text)
        with pytest.raises(TaskFileError, match=words):
            load_problems(path)


def write_csv(path: Path, rows: list[dict]) -> None:
    names = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, names)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: json.dumps(value) if isinstance(value, (list, dict)) else value
                             for key, value in row.items()})


@pytest.mark.parametrize("name", ["gsm8k.jsonl", "funcs.jsonl", "countdown.jsonl", "mbpp.jsonl", "humaneval.jsonl"])
def test_a_csv_file_reads_as_its_jsonl(tmp_path, name):
    path = tmp_path / name.replace(".jsonl", ".csv")
    write_csv(path, rows_of(name))
    assert same_problems(load_problems(path), load_problems(FIXTURES / name))


def test_a_bad_csv_row_is_named_by_the_line_it_starts_on(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('question,answer\n"A two-line\nquestion?","#### 4"\nHow many?,"It is\n#### 5"\n,\n'
                    'One more?,#### 3\n"Bad, [cell","[1, 2"\n')
    with pytest.raises(TaskFileError, match=r"bad.csv:8: column 'answer': a cell starting with \[ must be JSON"):
        load_problems(path)
    path.write_text('question,answer\n"A two-line\nquestion?","#### 4"\nHow many?,"It is\n#### 5"\n,\nOne more?,x\n')
    with pytest.raises(TaskFileError, match=r"bad.csv:7: field 'answer'"):
        load_problems(path)
    path.write_text("numbers,target\n\"[3, 5]\",24,extra\n")
    with pytest.raises(TaskFileError, match=r"bad.csv:2: 3 cells where the header names 2"):
        load_problems(path)
    path.write_text("prompt,prompt\nx,y\n")
    with pytest.raises(TaskFileError, match=r"bad.csv:1: columns named twice: prompt"):
        load_problems(path)
    path.write_bytes(b"prompt,answer\n\xff\xfe,1\n")
    with pytest.raises(TaskFileError, match="not UTF-8"):
        load_problems(path)


def test_save_to_disk_folders_read_as_their_rows(tmp_path):
    import datasets
    rows = rows_of("gsm8k.jsonl")
    datasets.Dataset.from_list(rows).save_to_disk(tmp_path / "one")
    assert same_problems(load_problems(tmp_path / "one"), load_problems(FIXTURES / "gsm8k.jsonl"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:2]),
                          "test": datasets.Dataset.from_list(rows[2:])}).save_to_disk(tmp_path / "two")
    test = load_problems(f"{tmp_path / 'two'}@test")
    assert same_problems(test, load_problems(FIXTURES / "gsm8k.jsonl")[2:])
    with pytest.raises(TaskFileError, match=r"several splits; name one as .*two@SPLIT, from: test, train"):
        load_problems(tmp_path / "two")
    with pytest.raises(TaskFileError, match=r"no split 'dev'"):
        load_problems(f"{tmp_path / 'two'}@dev")


def test_a_folder_of_data_files_reads_each_file_or_one_split(tmp_path):
    folder = tmp_path / "data"
    (folder / "data").mkdir(parents=True)
    gsm8k, countdown = rows_of("gsm8k.jsonl"), rows_of("countdown.jsonl")
    (folder / "data" / "train-00000.jsonl").write_text("".join(json.dumps(row) + "\n" for row in gsm8k))
    write_csv(folder / "test.csv", countdown)
    everything = load_problems(folder)
    assert len(everything) == len(gsm8k) + len(countdown)
    assert same_problems(load_problems(f"{folder}@test"), load_problems(FIXTURES / "countdown.jsonl"))
    with pytest.raises(TaskFileError, match="no data files for split 'dev'"):
        load_problems(f"{folder}@dev")
    (folder / "data" / "test-extra.jsonl").write_text(json.dumps({"numbers": [1, 2], "target": 0}) + "\n")
    with pytest.raises(TaskFileError, match=r"test-extra.jsonl:1: field 'target'"):  # the file, not the folder
        load_problems(folder)


def test_a_hub_id_that_cannot_be_reached_exits_2_naming_it():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "selfplay.commands.lab", "tasks", "show", "someone/no-such-set:main@test"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "someone/no-such-set:main@test" in done.stderr and "could not be loaded" in done.stderr
    assert "Traceback" not in done.stderr


def test_unsupported_files_still_name_the_types_read(tmp_path):
    path = tmp_path / "rows.xlsx"
    path.write_text("x")
    with pytest.raises(TaskFileError, match=r"unsupported file type; expected one of .jsonl, .jsonl.gz, .parquet, "
                                            r".json, .csv"):
        load_problems(path)

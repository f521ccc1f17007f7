"""Loading task files: every fixture format, round trips, and one error per kind of bad row,
each naming the file, the line and the field."""
import gzip
import json
from pathlib import Path

import pytest

from selfplay.tasks import Problem, TaskFileError, content_key, load_problems, save_problems
from selfplay.tasks.countdown import generate as generate_countdown
from selfplay.tasks.funcs import generate as generate_funcs

FIXTURES = Path(__file__).resolve().parents[1] / "datasets" / "fixtures"
GOOD_ROW = {"numbers": [3, 5, 8], "target": 64}


@pytest.mark.parametrize("name, tasks", [
    ("gsm8k.jsonl", ["arith"] * 3), ("mbpp.jsonl", ["funcs"] * 3), ("humaneval.jsonl", ["funcs"] * 2),
    ("qa.jsonl", ["qa"] * 3), ("countdown.jsonl", ["countdown"] * 3), ("funcs.jsonl", ["funcs"] * 2),
    ("mixed.jsonl", ["countdown", "funcs", "arith", "qa", "countdown"]),
])
def test_every_fixture_loads_with_the_right_task(name, tasks):
    assert [p.task for p in load_problems(FIXTURES / name)] == tasks


def test_every_fixture_file_is_covered():
    covered = {"gsm8k.jsonl", "mbpp.jsonl", "humaneval.jsonl", "qa.jsonl", "countdown.jsonl", "funcs.jsonl", "mixed.jsonl"}
    assert {path.name for path in FIXTURES.iterdir()} == covered


def test_gsm8k_answer_is_what_follows_the_marks():
    problems = load_problems(FIXTURES / "gsm8k.jsonl")
    assert [p.answer for p in problems] == ["12", "1,000", "46"]
    assert problems[2].meta["solution"].endswith("#### 46") and problems[2].meta["steps"] == 3


def test_mbpp_rows_become_assert_tests_with_inferred_entry_points():
    problems = load_problems(FIXTURES / "mbpp.jsonl")
    assert [p.tests["entry_point"] for p in problems] == ["sum_squares", "circle_area", "sorted_words"]
    assert problems[1].tests["test_code"].startswith("import math\nassert math.isclose(circle_area(1)")
    assert "assert sum_squares([1, 2, 3]) == 14" in problems[0].prompt
    assert problems[0].meta["source_id"] == 1 and problems[0].meta["extra"] == {"challenge_test_list": []}


def test_humaneval_rows_keep_test_code_and_entry_point():
    problem = load_problems(FIXTURES / "humaneval.jsonl")[0]
    row = json.loads((FIXTURES / "humaneval.jsonl").read_text().splitlines()[0])
    assert problem.tests == {"entry_point": "add_one", "test_code": row["test"]}
    assert problem.prompt == row["prompt"] and problem.meta["source_id"] == "Example/0"
    assert problem.meta["solution"] == row["prompt"] + row["canonical_solution"]


def test_fixture_reference_code_passes_the_code_verifier():
    code = pytest.importorskip("verifiers.code", reason="verifiers.code not importable yet")
    for name in ("mbpp.jsonl", "humaneval.jsonl"):
        for problem in load_problems(FIXTURES / name):
            verdict = code.run_asserts(problem.meta["solution"], problem.tests["test_code"],
                                       entry_point=problem.tests["entry_point"])
            assert verdict.passed, (name, problem.id, verdict)


def test_user_ids_survive_and_content_keys_do_not_depend_on_them():
    problems = load_problems(FIXTURES / "countdown.jsonl")
    assert problems[2].id == "game-of-24-1"
    assert problems[0].id.startswith("countdown-")
    same = Problem.create("countdown", "x", answer="24", meta={"numbers": [4, 3, 2, 1], "target": 24})
    assert content_key(problems[2]) == content_key(same)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_save_then_load_round_trips_byte_for_byte(tmp_path, suffix):
    problems = generate_countdown(20, seed=1) + generate_funcs(10, seed=1) + load_problems(FIXTURES / "mixed.jsonl")[2:4]
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    save_problems(problems, first)
    save_problems(load_problems(first), second)
    assert load_problems(second) == problems
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a{suffix}", f"b{suffix}"]  # no temporary left


def test_save_refuses_duplicate_ids_and_leaves_no_file(tmp_path):
    problem = generate_countdown(1, seed=0)[0]
    with pytest.raises(ValueError, match="duplicate"):
        save_problems([problem, problem], tmp_path / "x.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_parquet_rows_load(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet
    path = tmp_path / "rows.parquet"
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist([{"prompt": "2+2?", "answer": "4"},
                                                          {"prompt": "3+3?", "answer": "6"}]), path)
    assert [(p.task, p.answer) for p in load_problems(path)] == [("qa", "4"), ("qa", "6")]


def write_lines(tmp_path, lines, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


BAD_ROWS = [
    ({"numbers": [3, 5], "target": "abc"}, "target"),
    ({"numbers": [5], "target": 5}, "numbers"),
    ({"numbers": [1, 2.5], "target": 3}, "numbers"),
    ({"numbers": "1 2 3", "target": 3}, "numbers"),
    ({"numbers": [1, True], "target": 3}, "numbers"),
    ({"numbers": [1, 2], "target": 3, "id": 3.5}, "id"),
    ({"question": "How many?", "answer": "About 12."}, "answer"),
    ({"question": "", "answer": "#### 3"}, "question"),
    ({"question": "How many?", "answer": "3 apples ####   "}, "answer"),
    ({"prompt": "Write f.", "entry_point": "f", "cases": [[[1], 2, 3]]}, "cases"),
    ({"prompt": "Write f.", "entry_point": "f", "cases": [[1, 2]]}, "cases"),
    ({"prompt": "Write f.", "entry_point": "f", "cases": []}, "cases"),
    ({"prompt": "Write f.", "entry_point": "not valid", "cases": [[[1], 2]]}, "entry_point"),
    ({"entry_point": "f", "cases": [[[1], 2]]}, "prompt"),
    ({"text": "Write f.", "test_list": "assert f(1) == 2"}, "test_list"),
    ({"text": "Write f.", "test_list": ["assert 1 == 1"]}, "test_list"),
    ({"prompt": "def g():", "test": "def check(c): pass", "entry_point": 3}, "entry_point"),
    ({"prompt": "What is 2+2?", "answer": None}, "answer"),
    ({"task": "chess", "prompt": "e4?", "answer": "e5"}, "task"),
    ({"task": "funcs", "prompt": "Write f."}, "tests"),
    ({"task": "funcs", "prompt": "Write f.", "tests": {"entry_point": "f", "cases": [[1]]}}, "tests.cases"),
    ({"task": "countdown", "prompt": "Use 1 2", "answer": "3", "meta": {"target": 3}}, "meta.numbers"),
    ({"task": "qa", "prompt": "p", "answer": "a", "meta": [1]}, "meta"),
    ({"task": "arith", "numbers": [1, 2], "target": 3}, "task"),
]


@pytest.mark.parametrize("row, field", BAD_ROWS, ids=[f"{field}-{i}" for i, (_, field) in enumerate(BAD_ROWS)])
def test_bad_row_error_names_file_line_and_field(tmp_path, row, field):
    path = write_lines(tmp_path, [json.dumps(GOOD_ROW), "", json.dumps(row)])  # the blank line still counts
    with pytest.raises(TaskFileError) as caught:
        load_problems(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: field '{field}': "), message
    assert (caught.value.line, caught.value.field) == (3, field)


@pytest.mark.parametrize("lines, line, words", [
    (['{"numbers": [1, 2], "target": 3', ], 1, "invalid JSON"),
    ([json.dumps(GOOD_ROW), "[1, 2]"], 2, "expected a JSON object"),
    ([json.dumps(GOOD_ROW), '"just text"'], 2, "expected a JSON object"),
    ([json.dumps(GOOD_ROW), '{"colour": "red"}'], 2, "{numbers, target}"),
    ([json.dumps(GOOD_ROW), json.dumps({"numbers": [8, 5, 3], "target": 64})], 2, "first on line 1"),
    ([json.dumps(GOOD_ROW), json.dumps({**GOOD_ROW, "id": "x"}), json.dumps({"prompt": "p", "answer": "a", "id": "x"})],
     3, "duplicate id 'x'"),
])
def test_bad_lines_name_the_line(tmp_path, lines, line, words):
    path = write_lines(tmp_path, lines)
    with pytest.raises(TaskFileError, match="^" + str(path).replace(".", r"\.") + f":{line}: ") as caught:
        load_problems(path)
    assert words in str(caught.value)


def test_unrecognised_row_lists_the_recognised_formats(tmp_path):
    with pytest.raises(TaskFileError) as caught:
        load_problems(write_lines(tmp_path, ['{"colour": "red"}']))
    for shape in ("{question, answer}", "{prompt, entry_point, cases}", "test_list", "{prompt, test, entry_point}",
                  "{prompt, answer}", "problem form"):
        assert shape in str(caught.value)


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_file_is_an_error(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    with pytest.raises(TaskFileError, match="empty.jsonl: no problems"):
        load_problems(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(GOOD_ROW).encode() + b'\n{"prompt": "caf\xe9", "answer": "1"}\n')
    with pytest.raises(TaskFileError, match=r"latin\.jsonl:2: not UTF-8"):
        load_problems(path)


def test_gzip_errors_name_the_line_too(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"prompt": "p", "answer": "a"}\n{"numbers": [1], "target": 1}\n'))
    with pytest.raises(TaskFileError, match=r"rows\.jsonl\.gz:2: field 'numbers'"):
        load_problems(path)


def test_unsupported_file_type_is_an_error(tmp_path):
    path = tmp_path / "rows.xlsx"  # .csv and .json are read since datasets.load_dataset reads them
    path.write_text("prompt,answer\n")
    with pytest.raises(TaskFileError, match="unsupported file type"):
        load_problems(path)


# --- countdown rows: the standard game's use_all flag and a level ----------------------------------


def test_countdown_rows_keep_the_at_most_once_rule_unless_they_ask(tmp_path):
    rows = [GOOD_ROW, {"numbers": [3, 5, 8], "target": 40, "use_all": False},
            {"numbers": [3, 5, 8], "target": 43, "use_all": True, "level": "std3"},
            {"numbers": [3, 5, 8], "target": 24, "use_all": None}]
    path = write_lines(tmp_path, [json.dumps(row) for row in rows])
    default, explicit, standard, null = load_problems(path)
    assert "use_all" not in default.meta and "use_all" not in explicit.meta and "use_all" not in null.meta
    assert default.prompt.endswith("Each number at most once.")
    assert standard.meta == {"numbers": [3, 5, 8], "target": 43, "use_all": True, "level": "std3"}
    assert standard.prompt.endswith("Each number exactly once.")


@pytest.mark.parametrize("row, field", [
    ({**GOOD_ROW, "use_all": 1}, "use_all"),
    ({**GOOD_ROW, "use_all": "true"}, "use_all"),
    ({**GOOD_ROW, "use_all": [True]}, "use_all"),
    ({**GOOD_ROW, "level": 3}, "level"),
    ({"task": "countdown", "prompt": "Use 3 5 8", "answer": "64",
      "meta": {"numbers": [3, 5, 8], "target": 64, "use_all": "yes"}}, "meta.use_all"),
])
def test_a_bad_use_all_or_level_names_the_field(tmp_path, row, field):
    path = write_lines(tmp_path, [json.dumps(row)])
    with pytest.raises(TaskFileError, match=rf"field '{field}'"):
        load_problems(path)


def test_the_lab_form_keeps_countdown_meta_as_is(tmp_path):
    problem = generate_countdown(1, seed=0, level="std4")[0]
    path = save_problems([problem], tmp_path / "std4.jsonl")
    assert load_problems(path) == [problem] and problem.meta["use_all"] is True


def _gzip_cut_short(path: Path) -> None:
    """Many rows gzipped, then the second half of the stream dropped."""
    data = gzip.compress("".join(json.dumps({**GOOD_ROW, "id": f"r{i}"}) + "\n" for i in range(20000)).encode())
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("name, write, where, words", [
    ("long.jsonl", lambda p: p.write_text('{"numbers": [3, 5], "target": ' + "9" * 5000 + "}\n"), ":1: ",
     "integer of more than"),
    ("deep.jsonl", lambda p: p.write_text("[" * 100_000 + "]" * 100_000 + "\n"), ":1: ", "nested too deeply"),
    ("deep_field.jsonl", lambda p: p.write_text('{"numbers": ' + "[" * 100_000 + "]" * 100_000 + "}\n"), ":1: ",
     "nested too deeply"),
    ("junk.jsonl.gz", lambda p: p.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4), ":1: ", "gzip"),
    ("plain.jsonl.gz", lambda p: p.write_text(json.dumps(GOOD_ROW) + "\n"), ":1: ", "gzip"),
    ("short.jsonl.gz", _gzip_cut_short, ":", "truncated gzip"),
    ("junk.parquet", lambda p: p.write_bytes(b"PAR1" + bytes(range(256)) * 4), ": ", "not a readable parquet"),
])
def test_damaged_files_are_task_file_errors_naming_the_file(tmp_path, name, write, where, words):
    path = tmp_path / name
    write(path)
    with pytest.raises(TaskFileError) as caught:
        load_problems(path)
    assert str(caught.value).startswith(f"{path}{where}") and words in str(caught.value)


def test_a_truncated_gzip_names_a_line_past_the_rows_it_read(tmp_path):
    path = tmp_path / "short.jsonl.gz"
    _gzip_cut_short(path)
    with pytest.raises(TaskFileError) as caught:
        load_problems(path)
    assert caught.value.line is not None and 1 < caught.value.line < 20000

"""The run directory's files under damage and contention: a trees file cut or corrupted anywhere
but a torn last append, JSON files cut short or of the wrong shape, two runs on one directory,
trees written twice, and one file mode for every writer. No model: trees and runs are built by hand."""
from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from selfplay.commands import lab as cli, improve as improve_cli
from selfplay.runfiles import rundir, treeio
from selfplay.runfiles.rundir import DamagedFile, RunLocked
from selfplay.runfiles.treeio import read_trees, write_trees
from selfplay.treeview.server import make_server
from tests.fixture_run import build_tree, make_run, node

REPO = Path(__file__).resolve().parent.parent


def tree(problem_id: str) -> dict:
    return build_tree(problem_id, 1, [node(0, "1+1=2", terminal=True, passed=True)], chosen=1)


def ids(trees) -> list[str]:
    return [t.problem_id for t in trees]


def sampling_round(tmp_path: Path, *problem_ids: str) -> Path:
    """round-1/trees.jsonl.gz of a round still sampling: one member per problem."""
    path = tmp_path / "run" / "round-1" / "trees.jsonl.gz"
    for problem_id in problem_ids:
        treeio.append_trees(path, [tree(problem_id)])
    return path


# --- the trees file ------------------------------------------------------------------------------

def test_a_flipped_byte_in_a_middle_member_is_an_error_naming_the_byte_not_a_torn_tail(tmp_path):
    path = sampling_round(tmp_path, "a", "b", "c")
    first = len(treeio.tree_member([tree("a")]))
    data = bytearray(path.read_bytes())
    data[first + 30] ^= 0x10  # inside member 1's compressed body
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFile) as caught:
        treeio.read_trees_prefix(path)
    message = str(caught.value)
    assert f"{path}: damaged at byte {first} of {len(data)}: gzip member 1" in message
    assert f"truncate -s {first} {path}" in message and "1 intact trees" in message
    with pytest.raises(DamagedFile):
        treeio.repair_trees(path)
    assert path.read_bytes() == bytes(data)  # nothing was cut


def test_no_single_bit_flip_drops_trees_silently(tmp_path):
    """Flip a bit of each byte of a three-member file in turn: the reader sees every tree or says the
    file is damaged; only a flip inside the last member may pass for a torn append (losing that one only)."""
    path = sampling_round(tmp_path, "a", "b", "c")
    whole = path.read_bytes()
    last = len(whole) - len(treeio.tree_member([tree("c")]))
    outcomes = {"whole": 0, "damaged": 0, "torn last": 0}
    for position in range(len(whole)):
        flipped = bytearray(whole)
        flipped[position] ^= 1 << position % 8
        path.write_bytes(bytes(flipped))
        try:
            seen = ids(treeio.read_trees_prefix(path))
        except (DamagedFile, ValueError):
            outcomes["damaged"] += 1
            continue
        if seen == ["a", "b", "c"]:
            outcomes["whole"] += 1  # a header byte no checksum covers (mtime, OS): the trees are intact
        else:
            assert seen == ["a", "b"] and position >= last, (position, seen)
            outcomes["torn last"] += 1
    assert outcomes["damaged"] > 0.8 * len(whole)


@pytest.mark.parametrize("level, says", [(9, "is corrupt"), (0, "stops short, yet a complete member follows")])
def test_a_torn_member_with_a_complete_one_after_it_is_damage(tmp_path, level, says):
    """An append cut short and then another append after it: not a torn tail, whatever zlib makes of
    the next member's bytes (level 9: read on as deflate data, it fails its checksum; level 0: a stored
    block swallows the next member and wants more)."""
    path = sampling_round(tmp_path, "a")
    first = path.stat().st_size
    long = build_tree("b", 1, [node(0, "9" * 4000, terminal=True)])
    member = gzip.compress((json.dumps(long) + "\n").encode(), compresslevel=level, mtime=0)
    with open(path, "ab") as out:
        out.write(member[:100] + treeio.tree_member([tree("c")]))
    with pytest.raises(DamagedFile, match=f"damaged at byte {first} .*: gzip member 1 {says}"):
        treeio.read_trees_prefix(path)


def test_a_cut_file_is_a_torn_tail_while_sampling_and_damage_once_sampling_is_over(tmp_path):
    path = sampling_round(tmp_path, "a", "b", "c")
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    assert ids(treeio.read_trees_prefix(path)) == ["a", "b"]  # still sampling: c is sampled again
    write_trees(path, [tree("a"), tree("b"), tree("c")])  # what selection leaves: one member
    rundir.write_jsonl(path.parent / "sft.jsonl", [])
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DamagedFile, match="Round 1's sampling is over, so its trees file must be whole"):
        treeio.read_trees_prefix(path)
    with pytest.raises(DamagedFile):
        treeio.repair_trees(path)
    path.unlink()
    with pytest.raises(DamagedFile, match="missing, though round 1's sampling is over"):
        treeio.read_trees_prefix(path)


def test_read_trees_wants_the_whole_file(tmp_path):
    path = write_trees(tmp_path / "t.jsonl.gz", [tree("a"), tree("b")])
    assert ids(read_trees(path)) == ["a", "b"]
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DamagedFile, match="cut short"):
        read_trees(path)


def cut_round_one(run: Path) -> Path:
    """Round 1 of the fixture run is DONE; cut 40 bytes off its trees file."""
    path = run / "round-1" / "trees.jsonl.gz"
    path.write_bytes(path.read_bytes()[:-40])
    return path


def test_a_finished_round_with_a_cut_trees_file_stops_list_export_and_the_viewer(tmp_path, capsys):
    run = make_run(tmp_path)
    path = cut_round_one(run)
    assert cli.main(["tree", "list", str(run)]) == 2
    assert cli.main(["export", str(run), "--kind", "steps", "--out", str(tmp_path / "steps.jsonl")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(line.startswith(f"lab: error: {path}: damaged at byte 0") for line in errors)
    assert not (tmp_path / "steps.jsonl").exists()
    status, body = fetch(run, "/api/run")
    assert status == 422 and "must be whole" in json.loads(body)["error"]


# --- JSON files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("relative, content, says", [
    ("round-1/metrics.json", '{"round": 1, "eval": {"fast": {"accu', "not valid JSON"),
    ("round-0/eval.json", '{"round": 0, "ev', "not valid JSON"),
    ("round-1/metrics.json", "[]", "holds a JSON list"),
    ("round-1/metrics.json", '{"eval": ["fast"]}', "its \"eval\" is not an object"),
    ("round-1/metrics.json", '{"eval": {"fast": 0.5}}', "its \"eval\" is not an object with a result per mode"),
])
def test_a_damaged_json_file_is_an_error_naming_it(tmp_path, capsys, relative, content, says):
    run = make_run(tmp_path)
    (run / relative).write_text(content)
    assert cli.main(["tree", "list", str(run)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"lab: error: {run / relative}: ") and says in error
    status, body = fetch(run, "/api/run")
    assert status == 422 and str(run / relative) in json.loads(body)["error"]


def test_json_errors_say_what_to_do(tmp_path):
    (tmp_path / "metrics.json").write_text('{"a": ')
    with pytest.raises(DamagedFile, match="delete it and the DONE beside it, then rerun"):
        rundir.read_json(tmp_path / "metrics.json")
    (tmp_path / "sft.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DamagedFile, match="sft.jsonl: line 2 is not valid JSON"):
        rundir.read_jsonl(tmp_path / "sft.jsonl")


def fetch(run: Path, path: str) -> tuple[int, bytes]:
    server = make_server(run, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    finally:
        server.shutdown()
        server.server_close()


# --- one writer ----------------------------------------------------------------------------------

HOLD = """
import sys, time
from selfplay.runfiles import rundir
with rundir.lock_run(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_run_on_a_locked_directory_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"pid {holder.pid} on .*kill {holder.pid}"):
            with rundir.lock_run(out):
                pass
        assert improve_cli.main(["--preset", "smoke", "--out", str(out), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"improve: error: {out} is being written by another run (pid {holder.pid} ")
        assert "another --out" in error
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    with rundir.lock_run(out):  # the lock went with the killed process
        assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()


def test_the_lock_is_per_run_and_a_directory_it_made_for_nothing_goes_again(tmp_path):
    out = tmp_path / "runs" / "new"
    with rundir.lock_run(out):
        with pytest.raises(RunLocked):
            with rundir.lock_run(out):
                pass
        with rundir.lock_run(tmp_path / "runs" / "other"):
            pass
    assert not out.exists() and not (tmp_path / "runs" / "other").exists()
    with rundir.lock_run(out):
        rundir.write_text(out / "config.yaml", "seed: 0\n")
    assert sorted(p.name for p in out.iterdir()) == [".lock", "config.yaml"]


def test_trees_written_twice_keep_their_first_copy_in_rounds_still_sampling(tmp_path):
    path = sampling_round(tmp_path, "a", "b")
    treeio.append_trees(path, [tree("a"), tree("c")])  # a second run's copy of a, and a new problem
    treeio.append_trees(path, [tree("b")])
    finished = tmp_path / "run" / "round-2" / "trees.jsonl.gz"
    write_trees(finished, [tree("x")])
    rundir.write_jsonl(finished.parent / "sft.jsonl", [])
    before = finished.read_bytes()
    with open(path, "ab") as out:
        out.write(treeio.tree_member([tree("d")])[:15])  # and a torn append
    run = rundir.RunDir(tmp_path / "run")
    assert treeio.drop_duplicate_run_trees(run) == {1: ["a", "b"]}
    assert ids(treeio.read_trees_prefix(path)) == ["a", "b", "c"]
    assert treeio.scan_trees(path).torn == 0 and finished.read_bytes() == before
    assert treeio.drop_duplicate_run_trees(run) == {}


# --- one mode ------------------------------------------------------------------------------------

def test_every_run_file_gets_the_same_mode_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        written = [write_trees(tmp_path / "a" / "trees.jsonl.gz", [tree("a")]),
                   rundir.write_json(tmp_path / "a" / "metrics.json", {}),
                   rundir.write_jsonl(tmp_path / "a" / "sft.jsonl", [])]
        treeio.append_trees(tmp_path / "b" / "trees.jsonl.gz", [tree("a")])
        written.append(tmp_path / "b" / "trees.jsonl.gz")
        with rundir.lock_run(tmp_path / "a"):
            written.append(tmp_path / "a" / ".lock")
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o644}


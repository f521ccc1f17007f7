"""The one writer of whole files and folders: modes, renames, and what a failure leaves behind."""
from __future__ import annotations

import os
import stat

import pytest

from selfplay.runfiles import rundir
from verifiers.atomic_files import atomic_file, staging_dir, write_bytes, write_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_file_is_written_whole_with_mode_0644_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        path = write_text(tmp_path / "deep" / "a.txt", "é\n")
    finally:
        os.umask(old)
    assert path.read_bytes() == "é\n".encode("utf-8") and mode(path) == 0o644
    assert os.listdir(path.parent) == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_bytes(tmp_path / "a.bin", b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as out:
            out.write(b"half")
            raise RuntimeError("crash")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_two_open_writers_of_one_path_do_not_share_a_temporary(tmp_path):
    path = tmp_path / "a.txt"
    with atomic_file(path) as first, atomic_file(path) as second:
        first.write(b"first")
        second.write(b"second")
    assert path.read_bytes() == b"first"  # the outer block renames last


def test_a_staged_folder_replaces_the_old_one_with_mode_0755(tmp_path):
    final = tmp_path / "adapter"
    final.mkdir()
    (final / "stale.bin").write_bytes(b"x")
    with staging_dir(final) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".adapter-")
        (staging / "weights.bin").write_bytes(b"new")
    assert sorted(os.listdir(final)) == ["weights.bin"] and mode(final) == 0o755
    assert os.listdir(tmp_path) == ["adapter"]


def test_a_failed_staging_keeps_the_old_folder_and_removes_the_temporary(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "config.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with staging_dir(final) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("crash")
    assert os.listdir(final) == ["config.json"] and os.listdir(tmp_path) == ["model"]


def test_the_run_directory_writes_through_the_same_functions():
    assert (rundir.atomic_file, rundir.write_bytes, rundir.write_text, rundir.staging_dir) \
        == (atomic_file, write_bytes, write_text, staging_dir)


def test_a_pretrained_model_directory_replaces_the_old_one_shared_and_whole(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from selfplay.builtin_model.pretrain import save_model_dir
    from selfplay.builtin_model.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=8, intermediate_size=16,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")  # an older model
    (out / "stale.bin").write_bytes(b"x")
    old = os.umask(0o077)
    try:
        save_model_dir(model, tokenizer, out)
    finally:
        os.umask(old)
    assert (out / "model.safetensors").is_file() and not (out / "stale.bin").exists()
    assert mode(out) == 0o755 and {mode(path) for path in out.iterdir()} == {0o644}
    assert os.listdir(tmp_path) == ["model"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="does not hold a model"):
        save_model_dir(model, tokenizer, tmp_path / "notes")

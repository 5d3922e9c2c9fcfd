"""Checkpoint reading is safe (no code runs) and unwrapping handles the official containers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from attnsr.errors import CheckpointError
from attnsr.models.checkpoint import check_keys, read_checkpoint, unwrap_state_dict


class _Payload:
    def __reduce__(self):  # a pickle that would create a file if it were ever unpickled
        return (os.system, ("touch attnsr_pwned_marker",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Payload()}, bad)
    with pytest.raises(CheckpointError, match="evil.pth: refused to load"):
        read_checkpoint(bad)
    assert not (tmp_path / "attnsr_pwned_marker").exists()


def test_plain_pickle_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "plain.pkl"
    bad.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        read_checkpoint(bad)


@pytest.mark.parametrize("content,needle", [(None, "no such checkpoint"), (b"", "empty"), (b"garbage!", "cannot read")])
def test_bad_files_name_the_file(tmp_path: Path, content: bytes | None, needle: str) -> None:
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=needle) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_unwrap_containers_and_module_prefix() -> None:
    sd = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    ddp = {"module." + k: v for k, v in sd.items()}
    for wrapped in ({"state_dict": sd}, {"model_state_dict": sd, "epoch": 3}, {"state_dict": ddp}):
        out = unwrap_state_dict(wrapped)
        assert list(out) == list(sd)
    parts = unwrap_state_dict({"E": {"x": torch.ones(1)}, "G": {"y": torch.ones(1)}})
    assert list(parts) == ["E.x", "G.y"]
    parts = unwrap_state_dict({"E": {"x": torch.ones(1)}, "D": {"module.z": torch.ones(1)}})
    assert list(parts) == ["E.x", "D.z"]
    original = {"module.k": torch.ones(1)}
    unwrap_state_dict(original)
    assert list(original) == ["module.k"], "unwrap must not mutate its input"


def test_check_keys_reports_all_problems_together() -> None:
    expected = {"a": torch.zeros(2, 3), "b": torch.zeros(1), "c": torch.zeros(4)}
    given = {"a": torch.zeros(3, 2), "c": torch.zeros(4), "d": torch.zeros(1)}
    with pytest.raises(CheckpointError) as info:
        check_keys(expected, given, where="ckpt.pth")
    msg = str(info.value)
    assert "missing 1: ['b']" in msg and "unexpected 1: ['d']" in msg and "a: checkpoint (3, 2) vs model (2, 3)" in msg
    assert "\n" not in msg

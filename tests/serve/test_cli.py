"""``attnsr serve`` refuses bad options with one line and exit status 2, before binding anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnsr.cli.main import main


@pytest.mark.parametrize("args, message", [
    (["--port", "0"], "--port: expected 1..65535, got 0"),
    (["--threads", "-1"], "--threads: expected 0 (automatic) or a positive count"),
    (["--model", "nope"], "--model 'nope': not offered (offered: attnsr-small, attnsr-photo, attnsr-photo-gan, "
                          "attnsr-photo-gan:0.5, bicubic)"),
    (["--queue-size", "0"], "serve: queue_size must be at least 1, got 0"),
    (["--weights", "{tmp}/missing.pth"], "{tmp}/missing.pth"),
])
def test_bad_options_are_one_line(args: list[str], message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", *(a.format(tmp=tmp_path) for a in args)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("attnsr serve: error: ") and message.format(tmp=tmp_path) in err, err

"""attnsr.eval is the evaluation package; attnsr.evaluation (the old module path) re-exports the same objects,
and the report writers depend on the protocol, never the other way round."""

import ast
from pathlib import Path

import attnsr.eval as ev
import attnsr.evaluation as old


def test_old_path_reexports_the_same_objects():
    assert sorted(old.__all__) == sorted(ev.__all__)
    for name in ev.__all__:
        assert getattr(old, name) is getattr(ev, name), name


def test_protocol_and_scorers_do_not_import_the_report_writers():
    root = Path(ev.__file__).parent
    for module in ("protocol.py", "scorers.py"):
        tree = ast.parse((root / module).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "attnsr.eval.report" not in imported, module

"""The registry imports a network file only when one of its entries is needed, and its table of names
matches what every file defines."""

import importlib
import subprocess
import sys
from pathlib import Path

import attnsr
from attnsr.models import NETWORKS, all_entries


def test_networks_table_matches_every_files_entries():
    for module, names in NETWORKS.items():
        entries = importlib.import_module(f"attnsr.models.{module}").ENTRIES
        assert tuple(e.name for e in entries) == names, module
    assert list(all_entries()) == [n for names in NETWORKS.values() for n in names]


def test_create_imports_only_the_network_it_builds():
    code = ("import sys\n"
            "from attnsr.models import create, get_entry\n"
            "before = {m for m in sys.modules if m.startswith('attnsr.models.')}\n"
            "get_entry('hspan')\n"
            "create('rcan', scale=2, n_resgroups=1, n_resblocks=1, n_feats=16)\n"
            "print(sorted(m for m in sys.modules if m.startswith('attnsr.models.')))\n"
            "print(sorted(before))\n")
    root = Path(attnsr.__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}).stdout.splitlines()
    after, before = eval(out[0]), eval(out[1])
    networks = {f"attnsr.models.{m}" for m in NETWORKS}
    assert not networks & set(before)  # importing the package imports no network file
    assert networks & set(after) == {"attnsr.models.hspan", "attnsr.models.rcan"}

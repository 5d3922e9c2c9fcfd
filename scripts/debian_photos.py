"""Make ``data/debian-photos``: training tiles cut from the free-licence photographs of two Debian
packages (KDE Plasma's and MATE's wallpapers). No benchmark image is among them.

Each photo is taken byte for byte from the package (its sha256 is checked against :data:`PHOTOS`),
downscaled by 1/2 with MATLAB bicubic (so the HR is sharp per pixel, like the benchmark images, and the
source's JPEG noise shrinks), then cut into a grid of about 400×400 tiles, each saved as a PNG. Tiles make
each photo weigh in the training mix by its area: the patch sampler draws one patch per image. The output
is deterministic. The sources, their licences and authors are listed in ``data/debian-photos.md``.

The folder is replaced only once every tile is written, so an interrupted run leaves the old one.

Usage: .venv/bin/python scripts/debian_photos.py [--debs DIR] [--out data/debian-photos]
(``--debs``: a folder that holds the two .deb files already; otherwise they are fetched with
``apt-get download``, which needs the Debian bookworm package index: ``apt-get update``.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: (package, version) of each source package
PACKAGES = {
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "mate-backgrounds": "1.26.0-1",
}

KDE = ("plasma-workspace-wallpapers", "usr/share/wallpapers/{}/contents/images/2560x1600.jpg")
MATE = ("mate-backgrounds", "usr/share/backgrounds/mate/nature/{}.jpg")

#: (name, (package, path pattern), sha256 of the file): the photographs used (the packages' illustrations,
#: renders and near-empty skies are left out)
PHOTOS: list[tuple[str, tuple[str, str], str]] = [
    ("BytheWater", KDE, "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f"),
    ("ColdRipple", KDE, "05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f"),
    ("EveningGlow", KDE, "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a"),
    ("FallenLeaf", KDE, "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de"),
    ("Grey", KDE, "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed"),
    ("OneStandsOut", KDE, "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd"),
    ("Path", KDE, "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8"),
    ("Aqua", MATE, "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"),
    ("Blinds", MATE, "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
    ("Dune", MATE, "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
    ("FreshFlower", MATE, "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
    ("Garden", MATE, "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
    ("GreenMeadow", MATE, "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
    ("LadyBird", MATE, "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
    ("RainDrops", MATE, "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
    ("Storm", MATE, "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"),
    ("TwoWings", MATE, "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
    ("Wood", MATE, "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
    ("YellowFlower", MATE, "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"),
]


def fetch_debs(folder: Path) -> None:
    """Download the pinned .deb files into ``folder`` with apt-get."""
    pins = [f"{p}={v}" for p, v in PACKAGES.items()]
    subprocess.run(["apt-get", "download", *pins], cwd=folder, check=True)


def extract(debs: Path, root: Path) -> None:
    for package in PACKAGES:
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise SystemExit(f"{debs}: no {package}_*.deb (fetch it with: apt-get download {package})")
        (root / package).mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root / package)], check=True)


def tiles(img: np.ndarray, size: int = 400) -> list[np.ndarray]:
    """A grid of about ``size``×``size`` tiles that covers ``img`` (H, W, C) without overlap."""
    h, w = img.shape[:2]
    rows, cols = max(1, round(h / size)), max(1, round(w / size))
    ys = [h * i // rows for i in range(rows + 1)]
    xs = [w * j // cols for j in range(cols + 1)]
    return [img[ys[i]:ys[i + 1], xs[j]:xs[j + 1]] for i in range(rows) for j in range(cols)]


def make_tiles(root: Path, out: Path, photos: list[tuple[str, tuple[str, str], str]] = PHOTOS) -> int:
    """Check each photo of ``photos`` under the extracted packages in ``root`` against its sha256, halve it
    and write its tiles to ``out``; returns the number of tiles."""
    from PIL import Image

    from attnsr.assets import file_sha256
    from attnsr.image.io import save_array
    from attnsr.image.resize import imresize

    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, (package, pattern), sha in photos:
        path = pattern.format(name)
        src = root / package / path
        if not src.is_file():
            raise SystemExit(f"{package}: {path} is missing")
        got = file_sha256(src)
        if got != sha:
            raise SystemExit(f"{package}: {path}: sha256 {got} is not the pinned {sha}")
        with Image.open(src) as im:
            rgb = np.asarray(im.convert("RGB"))
        for k, tile in enumerate(tiles(np.asarray(imresize(rgb, 0.5)))):
            save_array(out / f"{name}_{k:02d}.png", tile)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--debs", type=Path, help="folder holding the two .deb files (default: apt-get download)")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "debian-photos")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        debs = args.debs
        if debs is None:
            debs = work / "debs"
            debs.mkdir()
            fetch_debs(debs)
        extract(debs, work / "root")
        # the tiles go to a staging folder beside the output, which replaces it only when complete
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
        try:
            count = make_tiles(work / "root", staging, PHOTOS)
        except BaseException:
            shutil.rmtree(staging)
            raise
        if args.out.exists():
            shutil.rmtree(args.out)
        staging.rename(args.out)
    print(f"{args.out}: {count} tiles from {len(PHOTOS)} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())

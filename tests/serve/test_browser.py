"""The page in a real headless Chromium (Debian's ``chromium``, driven by Playwright over CDP).

Upload, the before/after viewer (both images drawn and different, one shared zoom/pan, the split), the
download's size and pixels, an error shown on the page, the progress bar following the engine's tiles,
and the API reference page; screenshots the page into the test's temporary folder, or over the README's
figure docs/figures/serve.png with ATTNSR_UPDATE_FIGURES=1. Nothing may be fetched from elsewhere. Skipped,
with the reason, where the browser or the driver is missing (``scripts/test.sh`` installs both where it
can: the driver is a test extra, the browser comes from Debian's ``chromium`` package).
"""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "attnsr" / "assets" / "sample.png"
FIGURE = REPO / "docs" / "figures" / "serve.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _chromium() -> str:
    path = os.environ.get("ATTNSR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium found (apt-get install chromium, or set ATTNSR_CHROMIUM); browser test not run")
    return path


@pytest.mark.filterwarnings("ignore:dfsa. tiling into:UserWarning")  # the progress part tiles on purpose
def test_page_upscales_and_compares(tmp_path: Path, temp_parent: Path, serve_live) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright driver is not installed "
                                   "(pip install playwright; the browser itself comes from Debian)")
    from attnsr.image.io import load_image
    from attnsr.infer.engine import Upscaler
    from attnsr.infer.resolve import resolve_model
    from attnsr.serve import ServeConfig, create_app

    executable = _chromium()
    app = create_app(ServeConfig(devices=("cpu",), temp_parent=temp_parent))
    with serve_live(app) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1120, "height": 900}, accept_downloads=True)
            page.set_default_timeout(30_000)
            blocked: list[str] = []
            local = (url, "blob:", "data:")
            page.on("request", lambda r: blocked.append(r.url) if not r.url.startswith(local) else None)
            page.goto(url)
            page.wait_for_selector("#model option", state="attached")
            assert page.eval_on_selector("#model", "s => s.value") == "attnsr-small"

            page.set_input_files("#files", files=[
                {"name": "sample.png", "mimeType": "image/png", "buffer": SAMPLE.read_bytes()},
                {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"},
            ])
            page.wait_for_selector(".card.done")
            page.wait_for_selector(".card.error")
            assert "not an image" in page.inner_text(".card.error")

            sizes = page.evaluate("""() => ['img-before', 'img-after'].map(id => {
                const i = document.getElementById(id); return [i.complete, i.naturalWidth, i.naturalHeight]; })""")
            assert sizes == [[True, 256, 192], [True, 256, 192]]
            # both are drawn: the before layer whole, the after layer clipped left of the split; and they
            # are different pictures (bicubic vs the model), compared pixel by pixel in the page
            assert page.locator("#img-before").is_visible() and page.locator("#img-after").is_visible()
            assert page.eval_on_selector("#after-layer", "e => e.style.clipPath") == "inset(0px 0px 0px 50%)"
            differing = page.evaluate("""() => {
                const px = (id) => { const i = document.getElementById(id), c = document.createElement('canvas');
                    c.width = i.naturalWidth; c.height = i.naturalHeight; const g = c.getContext('2d');
                    g.drawImage(i, 0, 0); return g.getImageData(0, 0, c.width, c.height).data; };
                const a = px('img-before'), b = px('img-after'); let n = 0;
                for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) n++;
                return n / a.length; }""")
            assert differing > 0.5, differing
            assert page.eval_on_selector(".card.done progress", "p => [p.value, p.max]") == [1, 1]
            assert page.locator("#gallery button").count() == 1

            page.click("#zoom-in")
            transforms = page.evaluate("""() => ['img-before', 'img-after'].map(
                id => document.getElementById(id).style.transform)""")
            assert transforms[0] == transforms[1] and "scale(" in transforms[0]
            box = page.locator("#viewer").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55, steps=4)
            page.mouse.up()
            panned = page.evaluate("""() => ['img-before', 'img-after'].map(
                id => document.getElementById(id).style.transform)""")
            assert panned[0] == panned[1] != transforms[0]
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.3, steps=3)
            page.mouse.up()
            assert page.eval_on_selector("#after-layer", "e => e.style.clipPath").startswith("inset(0px 0px 0px 45")

            with page.expect_download() as info:
                page.click("#download")
            saved = tmp_path / "download.png"
            info.value.save_as(saved)
            assert info.value.suggested_filename == "sample_x2.png"

            page.click("#zoom-fit")
            figure = FIGURE if os.environ.get("ATTNSR_UPDATE_FIGURES") == "1" else tmp_path / "serve.png"
            page.screenshot(path=str(figure), full_page=True)

            page.fill("#tile", "5")  # an unsupported option: the server's one-line error on the card
            page.set_input_files("#files", files=[{"name": "bad-tile.png", "mimeType": "image/png",
                                                   "buffer": SAMPLE.read_bytes()}])
            page.wait_for_function("() => document.querySelectorAll('.card.error').length == 2")
            assert "tile: use 0 (whole image), 'auto' or 8..4096 pixels, got 5" in page.inner_text(".card.error")

            # the progress bar follows the engine's tiles: 8-px tiles of the 128x96 input mirrored by the 16-px
            # overlap (160x128) -> 20x16 = 320
            page.evaluate("""() => { window.seen = []; new MutationObserver(() => {
                const card = document.querySelector('.card'), bar = card.querySelector('progress');
                window.seen.push([card.querySelector('.state').textContent, bar.value, bar.max]);
            }).observe(document.getElementById('queue'),
                       {subtree: true, childList: true, characterData: true, attributes: true}); }""")
            page.fill("#tile", "8")
            page.set_input_files("#files", files=[{"name": "tiles.png", "mimeType": "image/png",
                                                   "buffer": SAMPLE.read_bytes()}])
            page.wait_for_function("() => document.querySelectorAll('.card.done').length == 2")
            seen = page.evaluate("window.seen")
            tiles = [(int(m[1]), v, mx) for t, v, mx in seen if (m := re.fullmatch(r"tile (\d+)/320", t))]
            assert len({n for n, _, _ in tiles}) >= 2, seen  # at least two different counts were shown
            assert all(v == n and mx == 320 for n, v, mx in tiles), seen
            assert [n for n, _, _ in tiles] == sorted(n for n, _, _ in tiles)
            assert seen[-1] == ["done · 256×192", 1, 1]
            assert page.locator("#gallery button").count() == 2

            page.goto(f"{url}/docs")  # the API reference, rendered from /openapi.json without a CDN
            page.wait_for_selector(".endpoint")
            assert page.locator(".endpoint").count() == 7
            assert "POST /v1/upscale" in page.inner_text("#endpoints")
            assert not blocked, f"the page fetched from elsewhere: {blocked}"
        finally:
            browser.close()

    got = np.asarray(Image.open(saved))
    assert got.shape == (192, 256, 3)
    want = Upscaler(resolve_model("default", None, 2).model, scale=2, device="cpu").upscale_array(
        load_image(SAMPLE).as_array())
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert Image.open(io.BytesIO(figure.read_bytes())).size[0] == 1120
    assert not any(temp_parent.iterdir()), "the server left files in its temp folder"

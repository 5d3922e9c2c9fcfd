"""The HTTP API of ``attnsr serve`` in-process (FastAPI's TestClient) and on a loopback uvicorn.

Every endpoint; bad uploads (empty, truncated, text, bomb, oversized) and bad options; the bounded queue;
cancellation (DELETE and a disconnected client stop at the next tile); concurrent jobs; 16-bit and alpha;
the private temp folder. Outputs are compared with :class:`attnsr.infer.engine.Upscaler` run here on the
same image, so a wrong model, scale, tile or quantisation in the server fails.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from attnsr.image.io import load_image
from attnsr.infer.engine import Upscaler
from attnsr.infer.resolve import Bicubic, resolve_model
from attnsr.serve import Catalogue, ModelChoice, ServeConfig, build_catalogue, create_app
from attnsr.serve.upload import safe_label

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "attnsr" / "serve" / "static"


# ----------------------------------------------------------------------------------------- test models
class TinyNet(nn.Module):
    """Nearest upsampling plus a seeded random 3x3 conv and pixel shuffle: fast, and each output pixel sees
    only its 3x3 LR neighbourhood, so tiles with the engine's 16-pixel overlap are exact."""

    def __init__(self, scale: int = 2, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.05)
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=g) * 0.02)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return up + self.shuffle(self.conv(x))


class Gate:
    """Counts forward calls (one per tile) and, at call ``stop_at``, sets ``reached`` and waits for
    ``release``: the test decides exactly when that tile may finish. Shared by copies of the network (the
    engine runs a folded deep copy)."""

    def __init__(self, stop_at: int) -> None:
        self.stop_at, self.calls = stop_at, 0
        self.reached, self.release = threading.Event(), threading.Event()

    def __deepcopy__(self, memo: dict) -> Gate:
        return self


class GatedNet(TinyNet):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gate
        g.calls += 1
        if g.calls == g.stop_at:
            g.reached.set()
            g.release.wait(60)
        return super().forward(x)


class BrokenNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise TypeError("boom")


def catalogue(*extra: ModelChoice) -> Catalogue:
    """tiny (x2, the default), tiny3 (x3 and x2, seeded by scale), bicubic, plus ``extra``."""
    return Catalogue([
        ModelChoice("tiny", "tiny", "custom", (2,), lambda s: TinyNet(2)),
        ModelChoice("tiny3", "tiny x3", "custom", (3, 2), lambda s: TinyNet(s, seed=s)),
        ModelChoice("bicubic", "bicubic", "bicubic", (2, 3, 4), Bicubic),
        *extra,
    ], "tiny")


def gated(stop_at: int) -> tuple[Gate, Catalogue]:
    gate = Gate(stop_at)
    return gate, catalogue(ModelChoice("gated", "gated", "custom", (2,), lambda s: GatedNet(gate)))


# ----------------------------------------------------------------------------------------- helpers
@contextmanager
def serving(temp_parent: Path, models: Catalogue | None = None, **settings: Any) -> Iterator[tuple[Any, Any]]:
    """(client, job manager) of an app on ``models`` (default: the tiny catalogue); on exit the server's
    private folder must be gone."""
    from fastapi.testclient import TestClient

    settings.setdefault("devices", ("cpu",))
    app = create_app(ServeConfig(temp_parent=temp_parent, **settings), models or catalogue())
    with TestClient(app) as client:
        yield client, app.state.jobs
    assert not any(temp_parent.iterdir()), "the server's temp folder outlived it"


def leftovers(jobs: Any) -> list[str]:
    return sorted(str(p.relative_to(jobs.root)) for p in jobs.root.rglob("*"))


def post(client: Any, data: bytes, name: str = "in.png", **fields: Any) -> Any:
    return client.post("/v1/upscale", files={"image": (name, data, "image/png")},
                       data={k: str(v) for k, v in fields.items()})


def decode(data: bytes, tmp_path: Path, name: str = "got.png") -> Any:
    path = tmp_path / name
    path.write_bytes(data)
    return load_image(path)


def reference(net: nn.Module, data: bytes, tmp_path: Path, scale: int = 2, **engine: Any) -> np.ndarray:
    """What the library makes of the uploaded bytes: Upscaler.upscale_array on the decoded samples."""
    src = tmp_path / "ref-input.png"
    src.write_bytes(data)
    return Upscaler(net, scale=scale, device="cpu", **engine).upscale_array(load_image(src).as_array())


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_done(client: Any, job_id: str) -> dict[str, Any]:
    status: dict[str, Any] = {}

    def done() -> bool:
        status.update(client.get(f"/v1/jobs/{job_id}").json())
        return status["state"] in ("done", "failed", "cancelled")

    wait_for(done, f"job {job_id}")
    return status


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB but whose data holds one row: what a decompression
    bomb looks like before decoding (written here byte by byte, independent of attnsr's codec)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * width)))
            + chunk(b"IEND", b""))


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) >= {"error", "type"} and "\n" not in body["error"], body
    return body


# ----------------------------------------------------------------------------------------- endpoints
def test_models_lists_bundled_bicubic_and_weights(tmp_path: Path, temp_parent: Path) -> None:
    weights = tmp_path / "mine.safetensors"
    weights.write_bytes((REPO / "attnsr" / "assets" / "models" / "attnsr-small_x3.safetensors").read_bytes())
    with serving(temp_parent, build_catalogue("default", (weights,)), max_pixels=123_456,
                 max_upload_bytes=7_000_000) as (client, _jobs):
        body = client.get("/v1/models").json()
    assert body["default"] == "attnsr-small"
    models = {m["id"]: m for m in body["models"]}
    assert list(models) == ["attnsr-small", "attnsr-photo", "attnsr-photo-gan", "attnsr-photo-gan:0.5", "bicubic",
                            "mine"]
    assert models["attnsr-photo-gan:0.5"]["scales"] == [2]  # the blend exists where both networks are shipped
    assert models["attnsr-small"]["scales"] == [2, 3, 4] and models["attnsr-photo"]["scales"] == [2, 4]
    assert models["mine"] == {"id": "mine", "label": "mine (--weights)", "kind": "weights", "scales": [3]}
    assert body["limits"] == {"max_upload_bytes": 7_000_000, "max_pixels": 123_456, "sync_max_pixels": 512 * 512}
    assert build_catalogue("photo").default == "attnsr-photo"  # the short name of `attnsr upscale --model photo`
    assert build_catalogue("photo-gan").default == "attnsr-photo-gan"
    blend = build_catalogue("photo-gan:0.5")
    assert blend.default == "attnsr-photo-gan:0.5"
    net = blend.choices["attnsr-photo-gan:0.5"].load(2)
    want = resolve_model("photo-gan:0.5", None, 2).model
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), want.state_dict().values()))


def test_page_and_api_docs_load_nothing_from_elsewhere(temp_parent: Path) -> None:
    with serving(temp_parent) as (client, _jobs):
        for page in ("/", "/docs"):
            r = client.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert r.headers["content-security-policy"].startswith("default-src 'self'")
            links = re.findall(r'(?:src|href)="([^"]+)"', r.text)
            assert links and all(u.startswith("/") and not u.startswith("//") for u in links), links
            for u in links:
                assert client.get(u).status_code == 200, u
        assert client.get("/redoc").status_code == 404  # FastAPI's CDN-based pages are off
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8")
        assert "https://" not in text and not re.search(r"http://(?!127\.0\.0\.1)", text), f.name


def test_openapi_schema_documents_every_endpoint(temp_parent: Path) -> None:
    with serving(temp_parent) as (client, _jobs):
        spec = client.get("/openapi.json").json()
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ops == {("GET", "/v1/models"), ("GET", "/v1/status"), ("POST", "/v1/upscale"),
                   ("GET", "/v1/jobs/{job_id}"), ("DELETE", "/v1/jobs/{job_id}"),
                   ("GET", "/v1/jobs/{job_id}/result"), ("GET", "/v1/jobs/{job_id}/before")}
    up = spec["paths"]["/v1/upscale"]["post"]
    form = up["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["image"] and form["properties"]["image"]["format"] == "binary"
    assert {"model", "scale", "self_ensemble", "tile", "before", "respond"} <= set(form["properties"])
    assert {"200", "202", "413", "422", "503"} <= set(up["responses"])
    assert list(up["responses"]["200"]["content"]) == ["image/png"]
    assert list(up["responses"]["202"]["content"]) == ["application/json"]
    for path in ("/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result"):
        assert "404" in spec["paths"][path]["get"]["responses"]


def test_sync_upscale_answers_the_library_output(tmp_path: Path, temp_parent: Path, make_png) -> None:
    data = make_png((20, 28, 3), seed=1)
    with serving(temp_parent) as (client, jobs):
        r = post(client, data, name="holiday.photo.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"] == 'attachment; filename="holiday.photo_x2.png"'
        assert r.headers["x-attnsr-model"] == "tiny" and r.headers["x-attnsr-scale"] == "2"
        np.testing.assert_array_equal(decode(r.content, tmp_path).as_array(), reference(TinyNet(2), data, tmp_path))
        r3 = post(client, data, model="tiny3", scale=3)
        got = decode(r3.content, tmp_path).as_array()
        assert got.shape == (60, 84, 3)
        np.testing.assert_array_equal(got, reference(TinyNet(3, seed=3), data, tmp_path, scale=3))
        assert leftovers(jobs) == []


def test_bundled_models_by_short_name(tmp_path: Path, temp_parent: Path, make_png) -> None:
    data = make_png((24, 20, 3), seed=2)
    with serving(temp_parent, build_catalogue()) as (client, jobs):
        got = {m: decode(post(client, data, model=m).content, tmp_path).as_array() for m in ("default", "photo")}
        assert leftovers(jobs) == []
    for name, arr in got.items():
        np.testing.assert_array_equal(arr, reference(resolve_model(name, None, 2).model, data, tmp_path))
    assert np.abs(got["default"].astype(int) - got["photo"].astype(int)).max() > 0


def test_job_lifecycle_status_result_before_delete(tmp_path: Path, temp_parent: Path, make_png) -> None:
    data = make_png((44, 48, 3), seed=3)
    with serving(temp_parent) as (client, jobs):
        r = post(client, data, name="big.png", tile=8, before="true", respond="job")
        assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        job_id = r.json()["id"]
        status = wait_done(client, job_id)
        assert status["state"] == "done" and status["error"] is None
        # tiles of 8 px over the image mirrored by the 16-px overlap: ceil(76/8) x ceil(80/8)
        assert status["tiles_done"] == status["tiles_total"] == 10 * 10
        assert (status["width"], status["height"], status["out_width"], status["out_height"]) == (48, 44, 96, 88)
        assert status["result"] == f"/v1/jobs/{job_id}/result" and status["before"] == f"/v1/jobs/{job_id}/before"
        result = client.get(status["result"])
        assert result.headers["content-disposition"] == 'attachment; filename="big_x2.png"'
        expected = reference(TinyNet(2), data, tmp_path)
        np.testing.assert_array_equal(decode(result.content, tmp_path).as_array(), expected)
        before = decode(client.get(status["before"]).content, tmp_path, "before.png").as_array()
        np.testing.assert_array_equal(before, reference(Bicubic(2), data, tmp_path))
        assert leftovers(jobs) == [job_id, f"{job_id}/before.png", f"{job_id}/result.png"]  # upload gone
        assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "done"
        for url in (f"/v1/jobs/{job_id}", status["result"], status["before"]):
            assert client.get(url).status_code == 404
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 404
        assert leftovers(jobs) == []


def test_respond_auto_answers_small_images_directly(temp_parent: Path, make_png) -> None:
    with serving(temp_parent, sync_max_pixels=100) as (client, jobs):
        assert post(client, make_png((10, 10, 3))).status_code == 200
        r = post(client, make_png((10, 11, 3)))
        assert r.status_code == 202
        wait_done(client, r.json()["id"])
        client.delete(f"/v1/jobs/{r.json()['id']}")
        assert post(client, make_png((10, 11, 3)), respond="image").status_code == 200
        assert leftovers(jobs) == []


def test_unknown_jobs_are_404(temp_parent: Path) -> None:
    with serving(temp_parent) as (client, _jobs):
        for job_id in ("0" * 32, "nope", "..%2F..%2Fetc"):
            for r in (client.get(f"/v1/jobs/{job_id}"), client.get(f"/v1/jobs/{job_id}/result"),
                      client.delete(f"/v1/jobs/{job_id}")):
                known = f"job {job_id!r}: no such job (finished jobs are kept 900 s)"
                assert r.status_code == 404 and error_of(r)["error"] in (known, "Not Found")  # no route: Not Found
        r = client.put("/v1/models")
        assert (r.status_code, error_of(r)["error"]) == (405, "Method Not Allowed")


def test_finished_jobs_are_forgotten_after_the_ttl(temp_parent: Path, make_png) -> None:
    with serving(temp_parent, result_ttl_s=0.3) as (client, jobs):
        job_id = post(client, make_png((8, 8, 3)), respond="job").json()["id"]
        assert wait_done(client, job_id)["state"] == "done"
        time.sleep(0.4)
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert leftovers(jobs) == []


# ----------------------------------------------------------------------------------------- bad input
BAD_UPLOADS = {
    "empty": ("empty.png", lambda png: b"", "empty.png: empty file (0 bytes)"),
    "truncated": ("cut.png", lambda png: png[: len(png) // 2], "cut.png: cannot read image"),
    "text": ("notes.txt", lambda png: b"these are notes, not pixels\n", "notes.txt: not an image file"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_a_422_naming_the_file(case: str, temp_parent: Path, make_png) -> None:
    name, make, message = BAD_UPLOADS[case]
    with serving(temp_parent) as (client, jobs):
        r = post(client, make(make_png((16, 16, 3))), name=name)
        assert r.status_code == 422
        body = error_of(r)
        assert body["error"].startswith(message) and body["type"] == "ImageError", body
        assert str(temp_parent) not in body["error"] and "input" not in body["error"]
        assert leftovers(jobs) == []


def test_decompression_bombs_are_refused_from_the_header(temp_parent: Path) -> None:
    bomb = io.BytesIO()
    Image.new("L", (4000, 3000)).save(bomb, "PNG")  # 12 MP of zeros in 12 kB
    assert len(bomb.getvalue()) < 20_000
    with serving(temp_parent, max_pixels=1_000_000) as (client, jobs):
        r = post(client, bomb.getvalue(), name="zeros.png")
        assert r.status_code == 422
        body = error_of(r)
        assert (body["limit"], body["value"], body["type"]) == ("max_pixels", 1_000_000, "LimitError")
        assert "zeros.png: 4000x3000" in body["error"] and "1000000 pixels (max_pixels" in body["error"]
        # 20000x20000 declared, one row of data: refused as too large (not as truncated), nothing decoded
        r = post(client, header_only_png(20000, 20000), name="bomb.png")
        assert r.status_code == 422 and error_of(r)["limit"] == "max_pixels"
        assert leftovers(jobs) == []


def _multipart(data: bytes, name: str = "a.png") -> tuple[bytes, str]:
    head = (f'--BOUNDARY\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    return head + data + b"\r\n--BOUNDARY--\r\n", "multipart/form-data; boundary=BOUNDARY"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_upload_is_a_413_naming_the_limit(chunked: bool, tmp_path: Path, temp_parent: Path,
                                                    make_png) -> None:
    data = make_png((64, 64, 3))
    assert len(data) > 3 * 4096
    body, content_type = _multipart(data)
    with serving(temp_parent, max_upload_bytes=4096) as (client, jobs):
        if chunked:  # no Content-Length: the body is counted as it arrives
            r = client.post("/v1/upscale", content=iter([body[i:i + 1000] for i in range(0, len(body), 1000)]),
                            headers={"content-type": content_type})
        else:
            r = client.post("/v1/upscale", content=body, headers={"content-type": content_type})
        assert r.status_code == 413
        err = error_of(r)
        assert (err["limit"], err["value"]) == ("max_upload_bytes", 4096)
        assert "limit of 4096 bytes (max_upload_bytes)" in err["error"]
        assert leftovers(jobs) == []
        ok, _ = _multipart(make_png((8, 8, 3)))
        assert client.post("/v1/upscale", content=ok, headers={"content-type": content_type}).status_code == 200


@pytest.mark.parametrize("fields, message", [
    ({"model": "nope"}, "model 'nope': unknown (offered: tiny, tiny3, bicubic)"),
    ({"scale": "3"}, "model 'tiny' has no x3 (it offers x2)"),
    ({"model": "tiny3", "scale": "4"}, "model 'tiny3' has no x4 (it offers x3, x2)"),
    ({"scale": "two"}, "scale: expected an integer factor"),
    ({"tile": "5"}, "tile: use 0 (whole image), 'auto' or 8..4096 pixels, got 5"),
    ({"self_ensemble": "maybe"}, "self_ensemble: expected true or false"),
    ({"respond": "later"}, "respond: expected one of auto, image, job"),
    ({"path": "/etc/passwd"}, "unknown form field 'path'"),
])
def test_bad_options_are_a_422(fields: dict[str, str], message: str, temp_parent: Path, make_png) -> None:
    with serving(temp_parent) as (client, jobs):
        r = post(client, make_png((8, 8, 3)), **fields)
        assert r.status_code == 422 and error_of(r)["error"].startswith(message), r.json()
        assert leftovers(jobs) == []


def test_malformed_requests_are_a_422(temp_parent: Path, make_png) -> None:
    with serving(temp_parent) as (client, jobs):
        r = client.post("/v1/upscale", data={"model": "tiny"}, files={"other": ("x", b"1")})
        assert r.status_code == 422 and "unknown form field 'other'" in error_of(r)["error"]
        r = client.post("/v1/upscale", files={"model": (None, "tiny")})
        assert r.status_code == 422 and "no image in the request" in error_of(r)["error"]
        r = client.post("/v1/upscale", json={"image": "aGVsbG8="})
        assert r.status_code == 422 and "multipart/form-data" in error_of(r)["error"]
        png = make_png((8, 8, 3))
        r = client.post("/v1/upscale", files=[("image", ("a.png", png)), ("image", ("b.png", png))])
        assert r.status_code == 422 and "one image per request" in error_of(r)["error"]
        assert leftovers(jobs) == []


def test_a_failing_model_fails_its_job_and_the_worker_lives_on(temp_parent: Path, make_png) -> None:
    models = catalogue(ModelChoice("broken", "broken", "custom", (2,), lambda s: BrokenNet()))
    with serving(temp_parent, models) as (client, jobs):
        r = post(client, make_png((8, 8, 3)), name="x.png", model="broken", tile=0)
        assert r.status_code == 422 and error_of(r)["error"] == "x.png: TypeError: boom"
        assert post(client, make_png((8, 8, 3))).status_code == 200
        assert leftovers(jobs) == []


# ----------------------------------------------------------------------------------------- queue, cancel
def test_full_queue_is_a_503_with_retry_after(tmp_path: Path, temp_parent: Path, make_png) -> None:
    net, models = gated(stop_at=1)
    data = make_png((16, 16, 3), seed=4)
    with serving(temp_parent, models, queue_size=1) as (client, jobs):
        a = post(client, data, model="gated", tile=0, respond="job").json()["id"]
        assert net.reached.wait(30)
        b = post(client, data, model="gated", tile=0, respond="job").json()["id"]
        sb = client.get(f"/v1/jobs/{b}").json()
        assert (sb["state"], sb["queue_position"]) == ("queued", 0)
        assert client.get(f"/v1/jobs/{a}").json()["state"] == "running"
        r = client.get(f"/v1/jobs/{b}/result")
        assert r.status_code == 409 and "is queued, no result" in error_of(r)["error"]
        full = post(client, data, model="gated", tile=0, respond="job")
        assert full.status_code == 503
        err = error_of(full)
        assert err["error"].startswith("queue full (1 jobs waiting, queue_size)")
        assert full.headers["retry-after"].isdigit() and int(full.headers["retry-after"]) >= 1
        assert err["retry_after"] == int(full.headers["retry-after"])
        assert len(leftovers(jobs)) == 4  # a/input, b/input and their folders: the refused one left nothing
        net.release.set()
        for job_id in (a, b):
            assert wait_done(client, job_id)["state"] == "done"
            got = decode(client.get(f"/v1/jobs/{job_id}/result").content, tmp_path).as_array()
            np.testing.assert_array_equal(got, reference(TinyNet(2), data, tmp_path))
            client.delete(f"/v1/jobs/{job_id}")
        assert post(client, data, model="gated", tile=0).status_code == 200
        assert leftovers(jobs) == []


def test_delete_stops_a_running_job_at_the_next_tile(temp_parent: Path, make_png) -> None:
    net, models = gated(stop_at=3)
    with serving(temp_parent, models) as (client, jobs):
        job_id = post(client, make_png((48, 48, 3)), model="gated", tile=8, respond="job").json()["id"]
        assert net.reached.wait(30)  # tile 3 of 100 (the image mirrored by the overlap) is running
        status = client.get(f"/v1/jobs/{job_id}").json()
        assert (status["state"], status["tiles_done"], status["tiles_total"]) == ("running", 2, 100)
        assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
        net.release.set()
        wait_for(lambda: client.get(f"/v1/jobs/{job_id}").status_code == 404, "the cancelled job to go")
        wait_for(lambda: jobs.stats()["running"] == 0, "the worker to stop")
        assert net.calls == 3  # the tile in progress finished, no other tile started
        assert leftovers(jobs) == []


def test_delete_of_a_queued_job_means_it_never_runs(temp_parent: Path, make_png) -> None:
    net, models = gated(stop_at=1)
    with serving(temp_parent, models) as (client, jobs):
        a = post(client, make_png((16, 16, 3)), model="gated", tile=0, respond="job").json()["id"]
        assert net.reached.wait(30)
        b = post(client, make_png((16, 16, 3)), model="gated", tile=0, respond="job").json()["id"]
        assert client.delete(f"/v1/jobs/{b}").json()["state"] == "cancelled"
        assert client.get(f"/v1/jobs/{b}").status_code == 404
        net.release.set()
        assert wait_done(client, a)["state"] == "done"
        assert net.calls == 1
        client.delete(f"/v1/jobs/{a}")
        assert leftovers(jobs) == []


def test_shutdown_stops_running_and_queued_jobs(temp_parent: Path, make_png) -> None:
    gate, models = gated(stop_at=2)
    with serving(temp_parent, models) as (client, jobs):
        a = post(client, make_png((48, 48, 3)), model="gated", tile=8, respond="job").json()["id"]
        assert gate.reached.wait(30)
        b = post(client, make_png((16, 16, 3)), model="gated", tile=0, respond="job").json()["id"]
        running, queued = jobs._jobs[a], jobs._jobs[b]
        threading.Timer(0.3, gate.release.set).start()  # the tile in progress ends while the app shuts down
    assert gate.calls == 2  # the running job stopped at its next tile; the queued one never started
    assert (running.state, queued.state) == ("cancelled", "cancelled") and queued.done.is_set()


def test_a_disconnected_client_cancels_its_job(temp_parent: Path, serve_live, make_png) -> None:
    import httpx

    net, models = gated(stop_at=3)
    app = create_app(ServeConfig(devices=("cpu",), temp_parent=temp_parent), models)
    with serve_live(app) as url:
        jobs = app.state.jobs
        with httpx.Client(timeout=httpx.Timeout(30.0, read=1.0)) as http, pytest.raises(httpx.ReadTimeout):
            http.post(f"{url}/v1/upscale", files={"image": ("a.png", make_png((48, 48, 3)))},
                      data={"model": "gated", "tile": "8", "respond": "image"})
        assert net.reached.is_set()
        wait_for(lambda: all(j.cancel.is_set() for j in list(jobs._jobs.values())), "the server to notice")
        net.release.set()
        wait_for(lambda: (s := jobs.stats())["running"] == s["kept"] == 0, "the job to be dropped")
        assert net.calls == 3
        assert leftovers(jobs) == []
    assert not any(temp_parent.iterdir())


def test_concurrent_requests_on_two_workers_get_their_own_results(tmp_path: Path, temp_parent: Path,
                                                                  serve_live, make_png) -> None:
    import httpx

    cases = [(make_png((18 + i, 30 - i, 3), seed=10 + i), "tiny3" if i % 2 else "tiny", 3 if i % 2 else 2)
             for i in range(6)]
    app = create_app(ServeConfig(devices=("cpu", "cpu"), temp_parent=temp_parent), catalogue())
    with serve_live(app) as url:
        start = threading.Barrier(len(cases))

        def send(case: tuple[bytes, str, int]) -> bytes:
            data, model, scale = case
            with httpx.Client(timeout=60) as http:
                start.wait()
                r = http.post(f"{url}/v1/upscale", files={"image": ("x.png", data)},
                              data={"model": model, "scale": str(scale)})
            assert r.status_code == 200, r.text
            return r.content

        with ThreadPoolExecutor(len(cases)) as pool:
            results = list(pool.map(send, cases))
        assert app.state.jobs.stats()["workers"] == 2
        assert leftovers(app.state.jobs) == []
    for i, ((data, _model, scale), got) in enumerate(zip(cases, results)):
        want = reference(TinyNet(scale, seed=3) if scale == 3 else TinyNet(2), data, tmp_path, scale=scale)
        np.testing.assert_array_equal(decode(got, tmp_path, f"c{i}.png").as_array(), want)


# ----------------------------------------------------------------------------------------- outputs, disk
@pytest.mark.parametrize("shape, dtype", [
    ((12, 10, 3), np.uint16), ((12, 10, 4), np.uint16), ((12, 10, 4), np.uint8),
    ((12, 10), np.uint8), ((12, 10), np.uint16), ((12, 10, 2), np.uint8),
], ids=["rgb16", "rgba16", "rgba8", "gray8", "gray16", "gray-alpha8"])
def test_outputs_keep_bit_depth_alpha_and_gray(shape: tuple[int, ...], dtype: type, tmp_path: Path,
                                               temp_parent: Path, make_png) -> None:
    data = make_png(shape, dtype=dtype, seed=5)
    source = decode(data, tmp_path, "src.png")
    assert source.bit_depth == (16 if dtype == np.uint16 else 8)
    with serving(temp_parent) as (client, _jobs):
        got = decode(post(client, data).content, tmp_path)
    assert (got.bit_depth, got.gray, got.alpha is None) == (source.bit_depth, source.gray, source.alpha is None)
    want = Upscaler(TinyNet(2), scale=2, device="cpu").upscale_array(source.as_array())
    assert want.dtype == dtype and want.shape[:2] == (24, 20)
    np.testing.assert_array_equal(got.as_array(), want)


def test_same_output_as_attnsr_upscale(tmp_path: Path, temp_parent: Path, make_png) -> None:
    from attnsr.cli.main import main

    data = make_png((20, 24, 4), dtype=np.uint16, seed=6)
    src = tmp_path / "rgba16.png"
    src.write_bytes(data)
    assert main(["upscale", str(src), "-o", str(tmp_path / "cli.png"), "--device", "cpu", "--quiet"]) == 0
    with serving(temp_parent, build_catalogue()) as (client, _jobs):
        served = post(client, data, name="rgba16.png").content
    cli = load_image(tmp_path / "cli.png")
    got = decode(served, tmp_path)
    assert (got.bit_depth, got.alpha is not None) == (16, True)
    np.testing.assert_array_equal(got.as_array(), cli.as_array())


def test_uploads_stay_in_the_private_folder_under_server_names(tmp_path: Path, temp_parent: Path,
                                                               monkeypatch: pytest.MonkeyPatch, make_png) -> None:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))  # where a framework would spool uploads
    net, models = gated(stop_at=1)
    with serving(temp_parent, models) as (client, jobs):
        assert stat.S_IMODE(jobs.root.stat().st_mode) == 0o700 and jobs.root.parent == temp_parent
        job_id = post(client, make_png((16, 16, 3)), name="../../../outside.png", model="gated", tile=0,
                      respond="job").json()["id"]
        assert net.reached.wait(30)
        assert re.fullmatch(r"[0-9a-f]{32}", job_id)
        assert leftovers(jobs) == [job_id, f"{job_id}/input"]
        assert stat.S_IMODE((jobs.root / job_id).stat().st_mode) == 0o700
        assert client.get(f"/v1/jobs/{job_id}").json()["filename"] == "outside.png"
        net.release.set()
        wait_done(client, job_id)
        r = client.get(f"/v1/jobs/{job_id}/result")
        assert r.headers["content-disposition"] == 'attachment; filename="outside_x2.png"'
        assert leftovers(jobs) == [job_id, f"{job_id}/result.png"]
        client.delete(f"/v1/jobs/{job_id}")
        r = post(client, make_png((8, 8, 3)), name='C:\\Users\\me\\..\\evil name.png')
        assert r.headers["content-disposition"] == 'attachment; filename="evil_name_x2.png"'
        assert leftovers(jobs) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serve-tmp", "system-tmp"]
    assert not any(system_tmp.iterdir()) and not any(temp_parent.iterdir())


@pytest.mark.parametrize("name, label", [
    ("photo.png", "photo.png"), ("../../etc/passwd", "passwd"), ("C:\\a\\b.png", "b.png"),
    (".hidden", "hidden"), ("", "image"), ("..", "image"), ("a b\x00c.png", "a_b_c.png"), ("é.png", "png"),
])
def test_safe_label(name: str, label: str) -> None:
    assert safe_label(name) == label

"""The ASGI app of ``attnsr serve``: the page at ``/`` and the HTTP API under ``/v1``; its OpenAPI schema at
``/openapi.json``, rendered at ``/docs`` by a page of our own (FastAPI's Swagger/ReDoc pages load scripts
from a CDN, which the offline rule and the Content-Security-Policy both forbid).

Errors are JSON ``{"error": message, "type": ..., "limit"?: name, "value"?: number}``: 413 for a body
over ``max_upload_bytes``, 422 for a bad image (empty, truncated, not an image, over ``max_pixels``) or a
bad option (unknown model, scale, tile), 404 for an unknown job, 409 for a result not ready, 503 with
Retry-After when the queue is full.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attnsr import __version__
from attnsr.errors import AttnsrError, ImageError, LimitError, ServiceError
from attnsr.serve.catalogue import Catalogue, build_catalogue
from attnsr.serve.config import RequestOptions, ServeConfig, parse_bool, parse_respond, parse_scale, parse_tile
from attnsr.serve.jobs import DONE, Job, JobManager
from attnsr.serve.upload import Upload, read_form

FORM_FIELDS = {"model", "scale", "self_ensemble", "tile", "before", "respond"}
#: threads that check uploads by decoding them (each holds one decoded image). A pool of its own, not the
#: framework's 40 threads: with the CLI's allocator setting each thread that allocates large buffers may
#: keep up to 512 MiB of freed memory (attnsr.infer.engine.keep_freed_memory), so few threads, few caches.
DECODE_SLOTS = 2
#: the page and the API load nothing from elsewhere (the app must work offline)
CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; object-src 'none'"
SECURITY_HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer"}

_UPSCALE_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["image"],
        "properties": {
            "image": {"type": "string", "format": "binary", "description": "PNG, JPEG, BMP, TIFF or WebP"},
            "model": {"type": "string", "description": "an id from GET /v1/models, or 'default'"},
            "scale": {"type": "integer", "description": "one of the model's scales (default: its first)"},
            "self_ensemble": {"type": "boolean", "default": False, "description": "x8 flips/rotations"},
            "tile": {"type": "string", "default": "auto", "description": "'auto', 0 (whole image) or LR pixels"},
            "before": {"type": "boolean", "default": False,
                       "description": "also make the input bicubic-upscaled to the output size (GET .../before)"},
            "respond": {"type": "string", "enum": ["auto", "image", "job"], "default": "auto",
                        "description": "image: wait and answer the PNG; job: answer 202 with a job; "
                                       "auto: image up to sync_max_pixels input pixels, else job"},
        }}}},
}
_ERROR = {"content": {"application/json": {"example": {"error": "message", "type": "ImageError"}}}}
_NO_JOB: dict[int | str, dict[str, Any]] = {404: {"description": "no such job (or forgotten)", **_ERROR}}
_UPSCALE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "the upscaled image (16-bit and alpha kept)"},
    202: {"description": "a job (poll GET /v1/jobs/{id})", "content": {"application/json": {}}},
    413: {"description": "body over max_upload_bytes", **_ERROR},
    422: {"description": "not an image, truncated, over max_pixels, or a bad option", **_ERROR},
    503: {"description": "queue full (see Retry-After)", **_ERROR},
}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer. A plain ASGI middleware: Starlette's ``@app.middleware``
    (BaseHTTPMiddleware) wraps ``receive`` so that ``request.is_disconnected()`` never sees a client leave,
    and a disconnected client must cancel its job."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def static_dir() -> Path:
    return Path(str(resources.files("attnsr.serve") / "static"))


def create_app(config: ServeConfig | None = None, catalogue: Catalogue | None = None) -> FastAPI:
    """The app. ``catalogue``: the models offered (default: built from ``config``: bundled, bicubic, weights).
    The job manager (temp folder, workers) lives from the app's startup to its shutdown."""
    cfg = config or ServeConfig()
    models = catalogue or build_catalogue(cfg.model, cfg.weights, cfg.default_scale)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.jobs = JobManager(models, cfg)
        app.state.decoder = ThreadPoolExecutor(DECODE_SLOTS, thread_name_prefix="attnsr-serve-decode")
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(app.state.jobs.close)
            app.state.decoder.shutdown(wait=True)

    app = FastAPI(title="attnsr serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Super-resolution of uploaded images with attnsr's models. "
                              "Errors are JSON objects with 'error' (one line) and 'type'.")
    app.state.config, app.state.catalogue = cfg, models
    _add_error_handlers(app)

    app.add_middleware(SecurityHeaders)

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((static_dir() / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", include_in_schema=False)
    def api_page() -> HTMLResponse:
        return HTMLResponse((static_dir() / "api.html").read_text(encoding="utf-8"))

    @app.get("/v1/models", summary="The models offered, their scales and the default")
    def list_models() -> dict[str, Any]:
        return {**models.describe(), "limits": {"max_upload_bytes": cfg.max_upload_bytes,
                                                 "max_pixels": cfg.max_pixels,
                                                 "sync_max_pixels": cfg.sync_max_pixels}}

    @app.get("/v1/status", summary="Queue and worker counts")
    def status(request: Request) -> dict[str, int]:
        return request.app.state.jobs.stats()

    @app.post("/v1/upscale", summary="Upscale one image: the PNG, or a job id for large images",
              openapi_extra={"requestBody": _UPSCALE_BODY}, responses=_UPSCALE_RESPONSES, response_class=Response)
    async def upscale(request: Request) -> Response:
        jobs: JobManager = request.app.state.jobs
        job = await _accept(request, jobs, models, cfg, request.app.state.decoder)
        direct = job.options.respond == "image" or (
            job.options.respond == "auto" and job.width * job.height <= cfg.sync_max_pixels)
        if not direct:
            return JSONResponse(job.status(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})
        return await _answer_directly(request, jobs, job, cfg.sync_timeout_s)

    @app.get("/v1/jobs/{job_id}", summary="A job's state and tiles done/total", responses=_NO_JOB)
    def job_status(job_id: str, request: Request) -> dict[str, Any]:
        jobs: JobManager = request.app.state.jobs
        job = jobs.get(job_id)
        return {**job.status(), "queue_position": jobs.queue_position(job)}

    @app.get("/v1/jobs/{job_id}/result", summary="A finished job's PNG", response_class=FileResponse,
             responses={200: {"content": {"image/png": {}}}, 409: {"description": "not done", **_ERROR}, **_NO_JOB})
    def job_result(job_id: str, request: Request) -> FileResponse:
        job = _finished(request.app.state.jobs, job_id)
        return FileResponse(job.result_path, media_type="image/png", filename=job.download_name())

    @app.get("/v1/jobs/{job_id}/before", summary="The input bicubic-upscaled to the output size (before=true)",
             response_class=FileResponse, responses={200: {"content": {"image/png": {}}}, **_NO_JOB})
    def job_before(job_id: str, request: Request) -> FileResponse:
        job = _finished(request.app.state.jobs, job_id)
        if not job.options.before:
            raise ServiceError(f"job {job_id}: was not asked for a before image (before=true)", status=404)
        return FileResponse(job.before_path, media_type="image/png")

    @app.delete("/v1/jobs/{job_id}", summary="Cancel a job (it stops at the next tile) and delete its files",
                responses=_NO_JOB)
    def job_delete(job_id: str, request: Request) -> dict[str, Any]:
        return request.app.state.jobs.cancel(job_id)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answer has the same JSON shape, the framework's own (unknown path, wrong method) too."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"error": message, "type": "HTTPError"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(AttnsrError)
    async def attnsr_error(_request: Request, exc: AttnsrError) -> JSONResponse:
        body: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
        headers = {}
        status = 422
        if isinstance(exc, LimitError):
            body.update(limit=exc.limit, value=exc.value)
            status = 413 if exc.limit == "max_upload_bytes" else 422
        elif isinstance(exc, ServiceError):
            status = exc.status
            if exc.retry_after is not None:
                headers["Retry-After"] = str(exc.retry_after)
                body["retry_after"] = exc.retry_after
        return JSONResponse(body, status_code=status, headers=headers)


def _finished(jobs: JobManager, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job.state != DONE:
        detail = f": {job.error}" if job.error else ""
        raise ServiceError(f"job {job_id}: is {job.state}, no result{detail}", status=409)
    return job


async def _accept(request: Request, jobs: JobManager, models: Catalogue, cfg: ServeConfig,
                  decoder: ThreadPoolExecutor) -> Job:
    """Read the form into a new job folder, check the options and the image, and queue the job."""
    jobs.check_capacity()
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cfg.max_upload_bytes:
        raise LimitError(f"upload of {length} bytes is larger than the limit of {cfg.max_upload_bytes} bytes "
                         "(max_upload_bytes)", limit="max_upload_bytes", value=cfg.max_upload_bytes)
    job_id, folder = jobs.new_folder()
    try:
        upload = await read_form(request.stream(), request.headers.get("content-type"), folder / "input",
                                 limit=cfg.max_upload_bytes, allowed=FORM_FIELDS)
        options = _options(upload, models)
        width, height = await asyncio.get_running_loop().run_in_executor(decoder, _check_image, upload,
                                                                         cfg.max_pixels)
        job = Job(job_id, folder, upload.filename, options, width, height)
        jobs.submit(job)
        return job
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _options(upload: Upload, models: Catalogue) -> RequestOptions:
    f = upload.fields
    choice, scale = models.resolve(f.get("model"), parse_scale(f.get("scale")))
    return RequestOptions(model=choice.id, scale=scale, self_ensemble=parse_bool("self_ensemble", f.get("self_ensemble")),
                          tile=parse_tile(f.get("tile")), before=parse_bool("before", f.get("before")),
                          respond=parse_respond(f.get("respond")))


def _check_image(upload: Upload, max_pixels: int) -> tuple[int, int]:
    """(width, height) of a decodable image within ``max_pixels``; the pixel count is read from the header
    before anything is decoded. Messages name the client's file, never the server's temp path."""
    import warnings

    from PIL import Image

    from attnsr.image.io import load_image

    name = upload.filename
    size = None
    over = f"more than the limit of {max_pixels} pixels (max_pixels; a decompression-bomb guard)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(upload.path) as im:
                size = im.size
    except Image.DecompressionBombError:  # Pillow's own guard, at twice Image.MAX_IMAGE_PIXELS
        raise LimitError(f"{name}: {over}", limit="max_pixels", value=max_pixels) from None
    except Exception:  # noqa: BLE001 - load_image below names what is wrong
        size = None
    if size is not None and size[0] * size[1] > max_pixels:
        raise LimitError(f"{name}: {size[0]}x{size[1]} is {over}", limit="max_pixels", value=max_pixels)
    try:
        image = load_image(upload.path, max_pixels=max_pixels)
    except ImageError as exc:
        raise ImageError(str(exc).replace(str(upload.path), name)) from None
    return int(image.rgb.shape[-1]), int(image.rgb.shape[-2])


async def _answer_directly(request: Request, jobs: JobManager, job: Job, timeout_s: float) -> Response:
    """Wait for the job and answer its PNG; a client that disconnects cancels it; past ``timeout_s`` the
    client gets the job (202) instead."""
    deadline = time.monotonic() + timeout_s
    while not job.done.is_set():
        if await request.is_disconnected():
            jobs.forget(job)
            return Response(status_code=499)
        if time.monotonic() > deadline:
            return JSONResponse(job.status(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})
        await anyio.sleep(0.02)
    try:
        if job.state != DONE:
            raise ServiceError(job.error or f"{job.filename}: {job.state}", status=422)  # errors name the file
        data = await anyio.to_thread.run_sync(job.result_path.read_bytes)
    finally:
        jobs.forget(job)
    headers = {"Content-Disposition": f'attachment; filename="{job.download_name()}"',
               "X-Attnsr-Model": job.options.model, "X-Attnsr-Scale": str(job.options.scale)}
    return Response(data, media_type="image/png", headers=headers)

"""Upscale jobs: a bounded queue, one worker thread per device, tile-level progress and cancellation.

Each job owns a folder inside the server's private temp folder (mode 0700, named by the server): the
upload, deleted as soon as the job ends, and the result files, deleted when the job is forgotten (DELETE,
a direct answer sent, expiry after ``result_ttl_s``, or shutdown). A cancelled job stops at the next tile:
the engine's progress callback raises when the job's cancel flag is set.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attnsr.errors import AttnsrError, ServiceError
from attnsr.infer.engine import Upscaler, pick_device
from attnsr.infer.resolve import Bicubic
from attnsr.serve.catalogue import Catalogue
from attnsr.serve.config import RequestOptions, ServeConfig

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)
#: zlib level of result PNGs (lossless; 1 is the fastest to write, as in ``attnsr upscale``)
RESULT_PNG_LEVEL = 1


class JobCancelled(Exception):
    """Raised from the engine's progress callback to stop a cancelled job at the next tile."""


@dataclass(eq=False)
class Job:
    """One upscale request. ``width``/``height``: the input's; counters are written by the worker only."""

    id: str
    folder: Path
    filename: str
    options: RequestOptions
    width: int
    height: int
    state: str = QUEUED
    tiles_done: int = 0
    tiles_total: int = 0
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    forgotten: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def input_path(self) -> Path:
        return self.folder / "input"

    @property
    def result_path(self) -> Path:
        return self.folder / "result.png"

    @property
    def before_path(self) -> Path:
        return self.folder / "before.png"

    def download_name(self) -> str:
        stem = self.filename.rsplit(".", 1)[0] if "." in self.filename else self.filename
        return f"{stem}_x{self.options.scale}.png"

    def status(self) -> dict[str, Any]:
        s = self.options.scale
        info: dict[str, Any] = {
            "id": self.id, "state": self.state, "filename": self.filename, "model": self.options.model,
            "scale": s, "self_ensemble": self.options.self_ensemble,
            "tile": "auto" if self.options.tile is None else self.options.tile,
            "width": self.width, "height": self.height, "out_width": self.width * s,
            "out_height": self.height * s, "tiles_done": self.tiles_done, "tiles_total": self.tiles_total,
            "error": self.error,
        }
        if self.state == DONE:
            info["result"] = f"/v1/jobs/{self.id}/result"
            if self.options.before:
                info["before"] = f"/v1/jobs/{self.id}/before"
        return info


class JobManager:
    """The queue, the jobs by id and the workers. Thread-safe; the web handlers and workers share it."""

    def __init__(self, catalogue: Catalogue, config: ServeConfig) -> None:
        self.catalogue, self.config = catalogue, config
        self.root = Path(tempfile.mkdtemp(prefix="attnsr-serve-", dir=config.temp_parent))
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._seconds_per_job = 2.0
        self._workers = [Worker(self, d) for d in config.devices]
        for w in self._workers:
            w.thread.start()

    # ----------------------------------------------------------------- handler side
    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(mode=0o700)
        return job_id, folder

    def check_capacity(self) -> None:
        """Raise the 503 a full queue answers (before reading a body that could not be queued)."""
        with self._cond:
            self._check_capacity_locked()

    def _check_capacity_locked(self) -> None:
        if self._closed:
            raise ServiceError("server is shutting down", status=503, retry_after=5)
        if len(self._queue) >= self.config.queue_size:
            wait = self._seconds_per_job * (len(self._queue) + 1) / len(self._workers)
            raise ServiceError(f"queue full ({self.config.queue_size} jobs waiting, queue_size); try again later",
                               status=503, retry_after=max(1, min(120, math.ceil(wait))))

    def submit(self, job: Job) -> None:
        self.sweep()
        with self._cond:
            self._check_capacity_locked()
            self._jobs[job.id] = job
            self._queue.append(job)
            self._cond.notify()

    def get(self, job_id: str) -> Job:
        self.sweep()
        with self._cond:
            job = self._jobs.get(job_id)
        if job is None:
            raise ServiceError(f"job {job_id!r}: no such job (finished jobs are kept "
                               f"{self.config.result_ttl_s:g} s)", status=404)
        return job

    def queue_position(self, job: Job) -> int | None:
        with self._cond:
            return next((i for i, j in enumerate(self._queue) if j is job), None)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job (a running one stops at its next tile) and forget it; returns its last status."""
        job = self.get(job_id)
        with self._cond:
            job.cancel.set()
            if job.state == QUEUED and job in self._queue:
                self._queue.remove(job)
                self._end(job, CANCELLED, None)
            if job.state == RUNNING:
                job.forgotten = True  # the worker removes it when the tile in progress returns
                status = job.status()
                status["state"] = CANCELLED
                return status
            status = job.status()
            self._forget_locked(job)
        return status

    def forget(self, job: Job) -> None:
        with self._cond:
            if job.state in FINAL_STATES:
                self._forget_locked(job)
            else:
                job.cancel.set()
                job.forgotten = True
                if job in self._queue:
                    self._queue.remove(job)
                    self._end(job, CANCELLED, None)
                    self._forget_locked(job)

    def sweep(self) -> None:
        """Forget finished jobs older than ``result_ttl_s``."""
        now = time.monotonic()
        with self._cond:
            old = [j for j in self._jobs.values()
                   if j.finished is not None and now - j.finished > self.config.result_ttl_s]
            for job in old:
                self._forget_locked(job)

    def close(self, timeout: float = 30.0) -> None:
        """Cancel everything, stop the workers (waiting at most ``timeout`` s) and delete the temp folder."""
        with self._cond:
            self._closed = True
            for job in list(self._jobs.values()):
                job.cancel.set()
            for job in self._queue:  # never started: ended now, so no handler waits for them
                self._end(job, CANCELLED, None)
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for w in self._workers:
            w.thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def stats(self) -> dict[str, int]:
        with self._cond:
            running = sum(j.state == RUNNING for j in self._jobs.values())
            return {"queued": len(self._queue), "running": running, "kept": len(self._jobs),
                    "queue_size": self.config.queue_size, "workers": len(self._workers)}

    # ----------------------------------------------------------------- worker side
    def next_job(self) -> Job | None:
        """Block until a job is queued (then mark it running) or the manager closes (None)."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job = self._queue.popleft()
            job.state = RUNNING
            return job

    def finish(self, job: Job, state: str, error: str | None, seconds: float) -> None:
        job.input_path.unlink(missing_ok=True)
        with self._cond:
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * seconds
            self._end(job, state, error)
            if job.forgotten or self._closed:
                self._forget_locked(job)

    def _end(self, job: Job, state: str, error: str | None) -> None:
        job.state, job.error, job.finished = state, error, time.monotonic()
        job.input_path.unlink(missing_ok=True)
        job.done.set()

    def _forget_locked(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)


class Worker:
    """One thread per device running jobs one at a time, with a small LRU cache of engines."""

    def __init__(self, manager: JobManager, device: str) -> None:
        self.manager = manager
        self.device = pick_device(device)
        self.engines: OrderedDict[tuple, Upscaler] = OrderedDict()
        self.thread = threading.Thread(target=self._loop, name=f"attnsr-serve-{device}", daemon=True)

    def _loop(self) -> None:
        while (job := self.manager.next_job()) is not None:
            started = time.monotonic()
            state, error = self._run(job)
            self.manager.finish(job, state, error, time.monotonic() - started)

    def engine(self, model: str, scale: int, self_ensemble: bool, tile: int | None) -> Upscaler:
        key = (model, scale, self_ensemble, tile)
        if key in self.engines:
            self.engines.move_to_end(key)
            return self.engines[key]
        if model == "bicubic-before":
            net = Bicubic(scale)
        else:
            choice, _ = self.manager.catalogue.resolve(model, scale)
            net = choice.load(scale)
        engine = Upscaler(net, scale=scale, device=self.device, tile=tile, self_ensemble=self_ensemble)
        self.engines[key] = engine
        while len(self.engines) > self.manager.config.engines_per_worker:
            self.engines.popitem(last=False)
        return engine

    def _run(self, job: Job) -> tuple[str, str | None]:
        from attnsr.image.io import load_image, save_array

        opts = job.options

        def progress(n: int) -> None:
            if job.cancel.is_set():
                raise JobCancelled
            job.tiles_done += n

        try:
            if job.cancel.is_set():
                return CANCELLED, None
            engine = self.engine(opts.model, opts.scale, opts.self_ensemble, opts.tile)
            array = load_image(job.input_path, max_pixels=self.manager.config.max_pixels).as_array()
            job.tiles_total = engine.count_tiles(*array.shape[:2])
            sr = engine.upscale_array(array, progress=progress)
            if job.cancel.is_set():
                return CANCELLED, None
            save_array(job.result_path, sr, png_compression=RESULT_PNG_LEVEL)
            del sr
            if opts.before:
                before = self.engine("bicubic-before", opts.scale, False, None).upscale_array(array)
                save_array(job.before_path, before, png_compression=RESULT_PNG_LEVEL)
            return DONE, None
        except JobCancelled:
            return CANCELLED, None
        except AttnsrError as exc:
            return FAILED, str(exc).replace(str(job.input_path), job.filename)
        except Exception as exc:  # noqa: BLE001 - e.g. out of (device) memory; the worker must live on
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                return FAILED, f"{job.filename}: out of GPU memory (try a smaller tile)"
            return FAILED, f"{job.filename}: {type(exc).__name__}: {exc}".replace(str(job.folder), "")

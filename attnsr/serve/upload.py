"""Streaming ``multipart/form-data`` parsing straight into the server's private folder.

Frameworks spool uploads into the system temp folder and read the whole body before the handler runs;
here the body is counted as it arrives (refused past the byte limit), the one image part is written to a
file the server names itself, and the client's file name is kept only as a label (never a path).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from attnsr.errors import ConfigError, ImageError, LimitError

FIELD_MAX_BYTES = 256
MAX_FIELDS = 16
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Upload:
    """A parsed request: the image saved at ``path`` (``size`` bytes), the client's file name reduced to
    a harmless label, and the text fields."""

    path: Path
    filename: str
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def safe_label(name: str | None, fallback: str = "image") -> str:
    """A client-supplied file name -> a short label of ``[A-Za-z0-9._-]`` with no folder part and no
    leading dot (for Content-Disposition and messages, never for the disk)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    label = _SAFE_NAME.sub("_", base).strip("._")[:80]
    return label or fallback


def too_large(limit: int) -> LimitError:
    return LimitError(f"upload is larger than the limit of {limit} bytes (max_upload_bytes)",
                      limit="max_upload_bytes", value=limit)


class _FormSink:
    """Callbacks of the multipart parser: headers of each part, then its data to a file or a field."""

    def __init__(self, target: Path, file_field: str, allowed: set[str]) -> None:
        self.target, self.file_field, self.allowed = target, file_field, allowed
        self.upload = Upload(path=target, filename="image")
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._fh: IO[bytes] | None = None
        self.saw_file = False
        self.file_done = False

    def callbacks(self) -> Any:  # multipart's MultipartCallbacks (a TypedDict of these handlers)
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_val, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers, self._value = {}, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def _headers_done(self) -> None:
        _kind, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.saw_file:
                raise ConfigError(f"send one image per request (field {self.file_field!r} came twice)")
            self.saw_file = True
            self.upload.filename = safe_label(params.get(b"filename", b"").decode("utf-8", "replace"))
            self._fh = open(self.target, "xb")  # noqa: SIM115 - closed in _part_end or close()
        elif self._name not in self.allowed:
            raise ConfigError(f"unknown form field {self._name!r} (known: {', '.join(sorted(self.allowed))}, "
                              f"{self.file_field})")
        elif self._name in self.upload.fields or len(self.upload.fields) >= MAX_FIELDS:
            raise ConfigError(f"form field {self._name!r} given twice")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._fh is not None:
            self._fh.write(data[start:end])
            self.upload.size += end - start
            return
        self._value += data[start:end]
        if len(self._value) > FIELD_MAX_BYTES:
            raise ConfigError(f"form field {self._name!r} is longer than {FIELD_MAX_BYTES} bytes")

    def _part_end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.file_done = True
        else:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


async def read_form(chunks: AsyncIterator[bytes], content_type: str | None, target: Path, *, limit: int,
                    allowed: set[str], file_field: str = "image") -> Upload:
    """Parse a multipart body arriving as ``chunks``; the ``file_field`` part goes to ``target`` (created
    new). Raises LimitError past ``limit`` bytes, ConfigError for a malformed form, ImageError when the
    image part is missing or empty. The caller removes ``target`` on failure."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ConfigError("send the image as multipart/form-data (field 'image'), "
                          f"not {content_type or 'no content type'!r}")
    sink = _FormSink(target, file_field, allowed)
    try:
        parser = MultipartParser(boundary, sink.callbacks())
    except MultipartParseError as exc:
        raise ConfigError(f"malformed multipart boundary ({exc})") from None
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ConfigError(f"malformed multipart body ({exc})") from None
        parser.finalize()
    finally:
        sink.close()
    if not sink.saw_file:
        raise ImageError(f"no image in the request (send it in the form field {file_field!r})")
    if not sink.file_done:
        raise ConfigError("incomplete multipart body (the image part never ended)")
    if sink.upload.size == 0:
        raise ImageError(f"{sink.upload.filename}: empty file (0 bytes)")
    return sink.upload

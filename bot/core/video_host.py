"""Downloading a finished video from the provider's file host: streamed to disk, checked, bounded.

The link belongs to a third-party CDN, so no Authorization header is sent. Nothing is left behind on
failure: a temporary ``.part`` file next to the destination is renamed only once the whole body arrived.
Besides a limit for the whole download, the host must send at least STALL_MIN_BYTES in every stall window
(silence included), else DownloadStalledError. A body that is not a video (by its Content-Type or its first
bytes) is refused as NotAVideoError before it is streamed. Only the host is logged: the rest of a signed link
is nobody's business (and may carry the API key, so no aiohttp error leaves this module chained).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import aiohttp
import yarl

from bot.core.grok_errors import (
    NOT_A_VIDEO,
    SIGNATURE_BYTES,
    DownloadConnectionError,
    DownloadError,
    DownloadStalledError,
    DownloadTimeoutError,
    LinkExpiredError,
    NotAVideoError,
    VideoTooLargeError,
    clean_text,
    has_video_signature,
    is_clearly_not_video,
    no_chain,
)
from bot.core.scheduler import plain_duration

log = logging.getLogger(__name__)

_CHUNK: Final = 64 * 1024
_FLUSH: Final = 1 << 20  # batch disk writes so each thread hop moves a useful amount


def _open_part(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("xb")


def _commit(handle: IO[bytes], part: Path, dest: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())  # the poller records "downloaded" next: make that true across a crash
    handle.close()
    os.replace(part, dest)


def _discard(handle: IO[bytes] | None, part: Path) -> None:
    if handle is not None:
        with contextlib.suppress(OSError):
            handle.close()
    with contextlib.suppress(OSError):
        part.unlink(missing_ok=True)


#: A download must bring at least this much in every stall window (DOWNLOAD_STALL_SECONDS), else it has
#: stalled: a host that trickles would otherwise hold a worker for the whole download timeout.
STALL_MIN_BYTES: Final = 64 * 1024


def _span(seconds: float) -> str:
    return plain_duration(seconds) if seconds >= 1 else f"{seconds:g} seconds"


def _stalled(stall_seconds: float) -> DownloadStalledError:
    return DownloadStalledError(
        f"the video host stopped sending (less than {STALL_MIN_BYTES // 1024} KiB in {stall_seconds:g} s)"
    )


@dataclass(frozen=True, slots=True)
class _Limits:
    max_bytes: int
    total: float
    stall_seconds: float

    def too_large(self, resp: aiohttp.ClientResponse) -> VideoTooLargeError | None:
        length = resp.content_length
        if length is None or length <= self.max_bytes:
            return None
        return VideoTooLargeError(
            f"the video is {length} bytes, over the {self.max_bytes}-byte cap", status=resp.status
        )


class _StallGuard:
    """Reads a body chunk by chunk; raises DownloadStalledError as soon as a window of ``seconds`` (the first
    one starts with the response headers) ends having brought less than STALL_MIN_BYTES."""

    def __init__(self, content: aiohttp.StreamReader, seconds: float) -> None:
        self._content = content
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._window_end = self._loop.time() + seconds
        self._window_bytes = 0

    async def read(self) -> bytes:
        """The next chunk; b"" at the end of the body."""
        while True:
            window = asyncio.timeout_at(self._window_end)
            chunk: bytes | None = None
            try:
                async with window:
                    chunk = await self._content.read(_CHUNK)
            except TimeoutError:
                if not window.expired():
                    raise  # aiohttp's own limit (the whole download's, or sock_read)
            self._window_bytes += len(chunk or b"")
            now = self._loop.time()
            if now >= self._window_end:
                if self._window_bytes < STALL_MIN_BYTES and chunk != b"":
                    raise _stalled(self._seconds)
                self._window_end, self._window_bytes = now + self._seconds, 0
            if chunk is not None:
                return chunk

    async def head(self) -> bytes:
        """At least SIGNATURE_BYTES from the start of the body (fewer only when the body is shorter)."""
        head = b""
        while len(head) < SIGNATURE_BYTES:
            chunk = await self.read()
            if not chunk:
                break
            head += chunk
        return head


def _judge_body(resp: aiohttp.ClientResponse, head: bytes) -> DownloadError | None:
    """NotAVideoError when the answer is plainly not a video; logged once for the owner, host only."""
    content_type = resp.headers.get("Content-Type")
    if not is_clearly_not_video(content_type) and (not head or has_video_signature(head)):
        return None if head else DownloadError("the video link answered with an empty file")
    shown = clean_text(content_type, None, 100) if content_type is not None else None
    log.warning(
        "the video host %s answered HTTP %d, Content-Type %s, starting %s: not a video; refused",
        resp.url.host,
        resp.status,
        shown or "(none)",
        head[:SIGNATURE_BYTES].hex(" ") or "(nothing)",
    )
    return NotAVideoError(NOT_A_VIDEO, status=resp.status)


async def _save(
    body: _StallGuard, head: bytes, handle: IO[bytes], max_bytes: int
) -> tuple[int, VideoTooLargeError | None]:
    """Write ``head`` and the rest of the body to ``handle``; returns (bytes received, over-the-cap error)."""
    written = 0
    buf = bytearray()
    chunk = head
    while chunk:
        written += len(chunk)
        if written > max_bytes:
            return written, VideoTooLargeError(f"the video is over the {max_bytes}-byte cap")
        buf += chunk
        if len(buf) >= _FLUSH:
            await asyncio.to_thread(handle.write, bytes(buf))
            buf.clear()
        chunk = await body.read()
    if buf:
        await asyncio.to_thread(handle.write, bytes(buf))
    return written, None


async def download(
    session: aiohttp.ClientSession,
    link: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109  # given to aiohttp as this request's connect+total limit
    stall_seconds: float,
    connect_timeout: float,
) -> int:
    """Stream the video at ``link`` to ``dest`` (atomically); returns the bytes written."""
    if max_bytes <= 0 or timeout <= 0 or stall_seconds <= 0:
        raise ValueError("max_bytes, timeout and stall_seconds must be positive")
    dest = Path(dest)
    with no_chain():
        try:
            link = link.strip()
            # A signed link must reach the CDN byte for byte (re-quoting breaks signatures); only a link
            # that is not valid on the wire as given (spaces, non-ASCII) is encoded here.
            target = yarl.URL(link, encoded=link.isascii() and link.isprintable() and " " not in link)
        except (TypeError, ValueError, AttributeError):
            target = None
        if target is None or target.scheme not in ("http", "https") or not target.host:
            raise DownloadError("the video link is not an http(s) URL", retryable=False)
        part = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        handle: IO[bytes] | None = None
        failure: DownloadError | None = None
        limits = _Limits(max_bytes, timeout, stall_seconds)
        try:
            written, handle = await _stream(session, target, part, limits, connect_timeout)
            try:
                await asyncio.to_thread(_commit, handle, part, dest)
            except OSError as exc:
                # Retryable: a full disk or a permission the owner can fix before the task's deadline.
                failure = DownloadError(f"could not save the video file ({exc.strerror or 'OS error'})")
        except BaseException:
            _discard(handle, part)
            raise
        if failure is not None:
            _discard(handle, part)
            raise failure
        return written


async def _stream(
    session: aiohttp.ClientSession, target: yarl.URL, part: Path, limits: _Limits, connect_timeout: float
) -> tuple[int, IO[bytes]]:
    host = target.host  # log the host only: the rest of a signed link is nobody's business
    started = time.monotonic()
    failure: DownloadError | None = None
    handle: IO[bytes] | None = None
    written = 0
    timeout = aiohttp.ClientTimeout(
        total=limits.total, connect=connect_timeout, sock_read=limits.stall_seconds
    )
    try:
        async with session.get(target, timeout=timeout, raise_for_status=False, max_redirects=5) as resp:
            log.debug("GET video from %s -> %d in %.3fs", host, resp.status, time.monotonic() - started)
            failure = _status_error(resp.status)
            if failure is None:  # first what it is (an error page is no video, whatever its size)
                body = _StallGuard(resp.content, limits.stall_seconds)
                head = await body.head()
                failure = _judge_body(resp, head) or limits.too_large(resp)
            if failure is None:
                handle = await asyncio.to_thread(_open_part, part)
                written, failure = await _save(body, head, handle, limits.max_bytes)
    except DownloadError as exc:  # the stall guard's verdict
        failure = exc
    except aiohttp.SocketTimeoutError:  # sock_read: nothing at all for stall_seconds
        failure = _stalled(limits.stall_seconds)
    except aiohttp.ConnectionTimeoutError:
        failure = DownloadTimeoutError("timed out connecting to the video host")
    except TimeoutError:
        failure = DownloadTimeoutError(f"the download took longer than {_span(limits.total)}")
    except aiohttp.ClientConnectorError:
        failure = DownloadConnectionError("could not connect to the video host")
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
        failure = DownloadConnectionError("the connection to the video host dropped")
    except aiohttp.ClientError as exc:
        failure = DownloadError(f"the video download failed ({type(exc).__name__})", retryable=False)
    except OSError as exc:
        failure = DownloadError(f"could not write the video file ({exc.strerror or 'OS error'})")
    except BaseException:
        _discard(handle, part)
        raise
    if failure is not None:
        _discard(handle, part)
        log.debug("video download from %s failed: %s", host, type(failure).__name__)
        raise failure
    assert handle is not None
    log.debug("downloaded %d bytes from %s in %.3fs", written, host, time.monotonic() - started)
    return written, handle


def _status_error(status: int) -> DownloadError | None:
    if status == 200:
        return None
    if status in (401, 403, 404, 410):
        return LinkExpiredError(f"the video link has expired (HTTP {status})", status=status)
    retryable = status in (408, 425, 429) or status >= 500
    return DownloadError(f"the video host answered HTTP {status}", status=status, retryable=retryable)

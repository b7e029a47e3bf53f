"""HTTP client for the Grok video provider: create a task, poll it, download the finished video.

No Discord here, and no automatic retries: a create retried after a timeout may be billed twice, so every
error says whether a *later* attempt may succeed (``GrokError.retryable``) and the caller decides.

Secret safety: the API key travels only in the ``Authorization`` header of create/result. aiohttp's
exceptions carry ``request_info`` whose headers include that header, so none of them ever leaves this module,
not even as ``__cause__``/``__context__``; errors are rebuilt from short, plain texts that are scrubbed of the
key. The video link belongs to a third-party CDN and is fetched without the header.

Error mapping (HTTP status first; a 2xx error envelope is read by its numeric code when that looks like an
HTTP status, else by its words):

=======================================  ====================================================
401                                      AuthenticationError
402                                      InsufficientBalanceError
403                                      InsufficientBalanceError if the text is about balance, else
                                         AuthenticationError
400, 413, 422                            InsufficientBalanceError if about balance; TaskNotFoundError
                                         on result if about a missing task; else BadRequestError
404                                      TaskNotFoundError on result; UnavailableError on create
429                                      RateLimitedError (Retry-After: seconds or HTTP date, ≤ 1 h)
408, 409, 3xx, 5xx, anything else        UnavailableError
2xx envelope (``code`` ≠ 0, ``error``    by words: balance → InsufficientBalanceError, rate/too many/
object or string without ``id``,         frequent → RateLimitedError, key/token/auth →
``success: false``)                      AuthenticationError, missing task (result) → TaskNotFoundError;
                                         otherwise BadRequestError on create (the provider refused it, do
                                         not pay twice) and UnavailableError on result (keep polling until
                                         the caller gives up: the task may still finish)
2xx that is not JSON / wrong shape       MalformedResponseError (``task_id`` set when an id was readable)
=======================================  ====================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import math
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Self, get_args
from urllib.parse import quote

import aiohttp
import yarl

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://zcbservice.aizfw.cn/kyyReactApiServer"
MAX_PROVIDER_MESSAGE: Final = 500
MAX_RETRY_AFTER: Final = 3600.0  # a provider asking for more than an hour is wrong or hostile
_MAX_API_BODY: Final = 1 << 20  # task bodies are tiny; never buffer a runaway answer
_CHUNK: Final = 64 * 1024
_FLUSH: Final = 1 << 20  # batch disk writes so each thread hop moves a useful amount

TaskStatus = Literal["queued", "processing", "completed", "failed"]
TASK_STATUSES: Final[frozenset[str]] = frozenset(get_args(TaskStatus))
Operation = Literal["create", "result"]


# --------------------------------------------------------------------------------------------- errors


class GrokError(Exception):
    """Base error; ``str(e)`` is short, plain English and free of secrets."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GrokConnectionError(GrokError):
    retryable = True


class GrokTimeoutError(GrokConnectionError):
    retryable = True


class GrokStatusError(GrokError):
    def __init__(
        self, message: str, *, status: int | None = None, provider_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider_message = provider_message


class AuthenticationError(GrokStatusError):
    retryable = False


class InsufficientBalanceError(GrokStatusError):
    retryable = False


class BadRequestError(GrokStatusError):
    retryable = False


class TaskNotFoundError(GrokStatusError):
    retryable = False


class RateLimitedError(GrokStatusError):
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, provider_message=provider_message)
        self.retry_after = retry_after


class UnavailableError(GrokStatusError):
    retryable = True


class MalformedResponseError(GrokError):
    """A 2xx whose body is not what the contract promises. After a create, the task may exist anyway."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, task_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.task_id = task_id


class DownloadError(GrokError):
    """Fetching the video failed. ``retryable`` is decided per instance (CDN outage: yes; 400: no)."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        if retryable is not None:
            self.retryable = retryable


class LinkExpiredError(DownloadError):
    retryable = False


class VideoTooLargeError(DownloadError):
    retryable = False


class DownloadConnectionError(DownloadError, GrokConnectionError):
    retryable = True


class DownloadTimeoutError(DownloadConnectionError, GrokTimeoutError):
    retryable = True


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CreatedTask:
    id: str
    status: str
    model: str | None
    created: int | None


@dataclass(frozen=True, slots=True)
class TaskResult:
    id: str
    status: TaskStatus
    model: str | None
    created: int | None
    video_url: str | None
    actual_duration: float | None
    error: str | None


# --------------------------------------------------------------------------------------------- helpers

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_BALANCE_RE = re.compile(r"balance|quota|credit|insufficient|余额|额度|欠费", re.IGNORECASE)
_RATE_RE = re.compile(r"rate[\s_-]?limit|too many|frequen|throttl|频繁|限流", re.IGNORECASE)
_AUTH_RE = re.compile(
    r"unauthori[sz]ed|unauthenticated|authenticat|forbidden|api[\s_-]?key|apikey|\btoken\b|"
    r"invalid[\s_-]?key|令牌|密钥|未授权|鉴权",
    re.IGNORECASE,
)
_NOT_FOUND_RE = re.compile(r"not[\s_-]?found|not[\s_-]?exist|no such|unknown task|不存在", re.IGNORECASE)
_SUCCESS_CODES: Final = frozenset({"0", "200", "ok", "success"})


def clean_text(text: str, secret: str | None = None, limit: int = MAX_PROVIDER_MESSAGE) -> str | None:
    """One line of at most ``limit`` characters, without control/format characters or ``secret``."""
    if secret:
        text = text.replace(secret, "***")
    text = _CONTROL_RE.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # bidi overrides and friends
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")  # again: removing format characters may have joined its pieces
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), clamped to 0..1 h."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError):
            return int(float(value))
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _is_error_code(code: object) -> bool:
    if code is None or isinstance(code, bool):
        return False
    if isinstance(code, int | float):
        return code not in (0, 200)
    if isinstance(code, str):
        return bool(code.strip()) and code.strip().lower() not in _SUCCESS_CODES
    return False


def _is_error_envelope(payload: object) -> bool:
    """Whether a 2xx body is the provider's error envelope rather than a task."""
    if not isinstance(payload, dict) or _valid_id(payload.get("id")):
        return False  # a task body: its ``error`` is the task's failure reason, read later
    error = payload.get("error")
    return (
        _is_error_code(payload.get("code"))
        or payload.get("success") is False
        or isinstance(error, dict)
        or (isinstance(error, str) and bool(error.strip()))
    )


@dataclass(frozen=True, slots=True)
class _ErrorInfo:
    message: str | None  # already cleaned
    words: str  # message plus type/code, for classification only
    code: int | None  # numeric envelope code


def _error_info(payload: object, text: str, secret: str) -> _ErrorInfo:
    parts: list[str] = []
    message: str | None = None
    code: int | None = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            for key in ("message", "msg", "detail"):
                if isinstance(error.get(key), str):
                    message = message or error[key]
            parts += [str(error.get("type") or ""), str(error.get("code") or "")]
            code = _as_int(error.get("code"))
        elif isinstance(error, str) and error.strip():
            message = error
        for key in ("msg", "message", "detail"):
            if isinstance(payload.get(key), str) and payload[key].strip():
                message = message or payload[key]
        raw_code = payload.get("code")
        parts.append(str(raw_code or ""))
        code = _as_int(raw_code) if _as_int(raw_code) is not None else code
        if message is None and payload:
            message = json.dumps(payload, ensure_ascii=False)[: MAX_PROVIDER_MESSAGE * 2]
    elif text.lstrip().startswith("<"):  # an HTML error page from a proxy: its title is the useful part
        match = _TITLE_RE.search(text)
        message = match.group(1) if match else None
    elif text.strip():
        message = text
    cleaned = clean_text(message, secret) if message else None
    parts.insert(0, cleaned or "")
    return _ErrorInfo(cleaned, " ".join(parts), code)


def _classify(op: Operation, http_status: int, info: _ErrorInfo) -> type[GrokStatusError]:
    status = http_status
    is_envelope = 200 <= status < 300
    if is_envelope and info.code is not None and 400 <= info.code <= 599:
        status, is_envelope = info.code, False  # an HTTP status carried in the body
    words = info.words
    if status == 401:
        return AuthenticationError
    if status == 402:
        return InsufficientBalanceError
    if status == 429:
        return RateLimitedError
    if status == 404:
        return TaskNotFoundError if op == "result" else UnavailableError
    if status in (400, 403, 413, 422) or is_envelope:
        if _BALANCE_RE.search(words):
            return InsufficientBalanceError
        if status == 403:
            return AuthenticationError
        if op == "result" and _NOT_FOUND_RE.search(words):
            return TaskNotFoundError
        if not is_envelope:
            return BadRequestError
        if _RATE_RE.search(words):
            return RateLimitedError
        if _AUTH_RE.search(words):
            return AuthenticationError
        return BadRequestError if op == "create" else UnavailableError
    return UnavailableError


_SUMMARIES: Final[Mapping[type[GrokStatusError], str]] = {
    AuthenticationError: "the Grok API refused the API key",
    InsufficientBalanceError: "the Grok API account has insufficient balance",
    BadRequestError: "the Grok API rejected the request",
    TaskNotFoundError: "the Grok API does not know this task",
    RateLimitedError: "the Grok API is rate limiting requests",
    UnavailableError: "the Grok API is unavailable",
}


@contextlib.contextmanager
def _no_chain() -> Iterator[None]:
    """Cut every exception chain at the public boundary: a chained aiohttp error would carry the key."""
    try:
        yield
    except GrokError as err:
        err.__cause__ = None
        err.__context__ = None
        err.__suppress_context__ = True
        raise


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


# --------------------------------------------------------------------------------------------- client


class GrokClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        session: aiohttp.ClientSession | None = None,
        connect_timeout: float = 10.0,
        total_timeout: float = 60.0,
    ) -> None:
        parsed = yarl.URL(base_url.strip().rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("base_url must be an absolute http(s) URL")
        if parsed.query_string or parsed.fragment:
            raise ValueError("base_url must not carry a query or fragment")
        key = api_key.strip() if isinstance(api_key, str) else ""
        if not key or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in key):
            raise ValueError("api_key must be a non-empty string without spaces or control characters")
        if connect_timeout <= 0 or total_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._base_url = str(parsed).rstrip("/")
        self._api_key = key
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._connect_timeout = connect_timeout
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout)

    def __repr__(self) -> str:
        return f"GrokClient(base_url={self._base_url!r}, api_key='***')"

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("GrokClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # ----------------------------------------------------------------------------------------- API calls

    async def create(self, body: Mapping[str, Any]) -> CreatedTask:
        """Submit a task. Any error after sending (timeout, malformed answer) may still have created it."""
        with _no_chain():
            status, payload, text, headers = await self._call("create", "POST", "/v1/grok/videos", body)
            self._raise_for_error("create", status, payload, text, headers)
            task_id, task_status, model, created = self._task_fields(status, payload, text)
            return CreatedTask(id=task_id, status=task_status, model=model, created=created)

    async def result(self, task_id: str) -> TaskResult:
        if not _valid_id(task_id):
            raise ValueError("task_id must be a non-empty string")
        path = "/v1/result/" + quote(task_id, safe="")
        with _no_chain():
            status, payload, text, headers = await self._call("result", "GET", path, None)
            self._raise_for_error("result", status, payload, text, headers)
            got_id, task_status, model, created = self._task_fields(status, payload, text)
            if got_id != task_id:
                log.warning("Grok result for one task id answered with another id; using the answer's")
            assert isinstance(payload, dict)
            video_url: str | None = None
            actual: float | None = None
            error: str | None = None
            if task_status == "completed":
                raw_url = payload.get("video_url")
                url: yarl.URL | None = None
                if isinstance(raw_url, str) and raw_url.strip():
                    with contextlib.suppress(ValueError):
                        url = yarl.URL(raw_url.strip())
                if url is None or url.scheme not in ("http", "https") or not url.host:
                    raise MalformedResponseError(
                        "the Grok API reported a completed task without a usable video_url",
                        status=status,
                        task_id=got_id,
                    )
                video_url = raw_url.strip() if isinstance(raw_url, str) else None
                actual = _as_float(payload.get("actualDuration", payload.get("actual_duration")))
            elif task_status == "failed":
                raw_error = payload.get("error")
                if isinstance(raw_error, dict):
                    raw_error = raw_error.get("message")
                error = clean_text(str(raw_error), self._api_key) if raw_error is not None else None
            return TaskResult(
                id=got_id,
                status=task_status,  # type: ignore[arg-type]  # checked against TASK_STATUSES
                model=model,
                created=created,
                video_url=video_url,
                actual_duration=actual,
                error=error,
            )

    async def _call(
        self, op: Operation, method: str, path: str, body: Mapping[str, Any] | None
    ) -> tuple[int, Any, str, Mapping[str, str]]:
        """One request; returns (status, parsed JSON or None, text, headers). Never raises aiohttp errors."""
        session = self._get_session()
        data = None if body is None else json.dumps(dict(body), ensure_ascii=False, allow_nan=False).encode()
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = yarl.URL(self._base_url + path, encoded=True)
        started = time.monotonic()
        failure: GrokError | None = None
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                raise_for_status=False,
            ) as resp:
                status = resp.status
                raw = await self._read_capped(resp)
                retry_after = resp.headers.get("Retry-After")  # the only response header anyone needs
        except TimeoutError as exc:  # aiohttp's own timeout errors subclass it too
            kind = "connecting to" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "waiting for"
            failure = GrokTimeoutError(f"timed out {kind} the Grok API ({op})")
        except aiohttp.ClientConnectorError:
            failure = GrokConnectionError(f"could not connect to the Grok API ({op})")
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            failure = GrokConnectionError(f"the connection to the Grok API dropped ({op})")
        except aiohttp.ClientError as exc:
            failure = GrokConnectionError(f"the request to the Grok API failed ({op}: {type(exc).__name__})")
        elapsed = time.monotonic() - started
        if failure is not None:
            log.debug("%s %s failed after %.3fs: %s", method, path, elapsed, type(failure).__name__)
            raise failure
        log.debug("%s %s -> %d in %.3fs", method, path, status, elapsed)
        text = raw.decode("utf-8", errors="replace")
        payload: Any = None
        with contextlib.suppress(ValueError, RecursionError):  # RecursionError: hostile nesting
            payload = json.loads(text)
        return status, payload, text, {} if retry_after is None else {"Retry-After": retry_after}

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > _MAX_API_BODY:
                break  # the JSON will not parse: reported as malformed, or as an error with trimmed text
        return bytes(buf[: _MAX_API_BODY + 1])

    def _raise_for_error(
        self, op: Operation, status: int, payload: Any, text: str, headers: Mapping[str, str]
    ) -> None:
        if 200 <= status < 300 and not _is_error_envelope(payload):
            return
        info = _error_info(payload, text, self._api_key)
        kind = _classify(op, status, info)
        where = f"HTTP {status}" if info.code is None or not 200 <= status < 300 else f"code {info.code}"
        message = f"{_SUMMARIES[kind]} ({where})"
        if kind is RateLimitedError:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            if retry_after is not None:
                message += f"; retry after {retry_after:.0f}s"
            if info.message:
                message += f": {info.message}"
            raise RateLimitedError(
                message, status=status, provider_message=info.message, retry_after=retry_after
            )
        if info.message:
            message += f": {info.message}"
        raise kind(message, status=status, provider_message=info.message)

    def _task_fields(self, status: int, payload: Any, text: str) -> tuple[str, str, str | None, int | None]:
        if payload is None:
            shown = "empty" if not text.strip() else "not JSON"
            raise MalformedResponseError(f"the Grok API answer was {shown} (HTTP {status})", status=status)
        if not isinstance(payload, dict):
            raise MalformedResponseError(
                f"the Grok API answer was not a JSON object (HTTP {status})", status=status
            )
        raw_id = payload.get("id")
        if not isinstance(raw_id, str) or not raw_id.strip():
            raise MalformedResponseError(f"the Grok API answer had no task id (HTTP {status})", status=status)
        task_id = raw_id.strip()
        task_status = payload.get("status")
        if task_status not in TASK_STATUSES:
            odd = clean_text(str(task_status), self._api_key, 40) if task_status is not None else None
            raise MalformedResponseError(
                f"the Grok API answered with an unknown task status ({odd or 'none'})",
                status=status,
                task_id=task_id,
            )
        model = payload.get("model")
        created = _as_int(payload.get("created"))
        return task_id, str(task_status), model if isinstance(model, str) else None, created

    # ----------------------------------------------------------------------------------------- download

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        timeout: float = 300.0,  # noqa: ASYNC109  # given to aiohttp as this request's connect+total limit
    ) -> int:
        """Stream the video at ``url`` to ``dest`` (atomically); returns the bytes written.

        The link is a third-party CDN URL, so no Authorization header is sent. Nothing is left behind on
        failure: a temporary ``.part`` file next to ``dest`` is renamed only once the whole body arrived.
        """
        if max_bytes <= 0 or timeout <= 0:
            raise ValueError("max_bytes and timeout must be positive")
        dest = Path(dest)
        with _no_chain():
            try:
                link = url.strip()
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
            try:
                written, handle = await self._stream(target, part, max_bytes, total_seconds=timeout)
                try:
                    await asyncio.to_thread(_commit, handle, part, dest)
                except OSError as exc:
                    failure = DownloadError(
                        f"could not save the video file ({exc.strerror or 'OS error'})", retryable=False
                    )
            except BaseException:
                _discard(handle, part)
                raise
            if failure is not None:
                _discard(handle, part)
                raise failure
            return written

    async def _stream(
        self, target: yarl.URL, part: Path, max_bytes: int, *, total_seconds: float
    ) -> tuple[int, IO[bytes]]:
        session = self._get_session()
        host = target.host  # log the host only: the rest of a signed link is nobody's business
        started = time.monotonic()
        failure: DownloadError | None = None
        handle: IO[bytes] | None = None
        written = 0
        try:
            async with session.get(
                target,
                timeout=aiohttp.ClientTimeout(total=total_seconds, connect=self._connect_timeout),
                raise_for_status=False,
                max_redirects=5,
            ) as resp:
                log.debug("GET video from %s -> %d in %.3fs", host, resp.status, time.monotonic() - started)
                failure = self._download_status_error(resp.status)
                length = resp.content_length
                if failure is None and length is not None and length > max_bytes:
                    failure = VideoTooLargeError(
                        f"the video is {length} bytes, over the {max_bytes}-byte cap", status=resp.status
                    )
                if failure is None:
                    handle = await asyncio.to_thread(_open_part, part)
                    buf = bytearray()
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            failure = VideoTooLargeError(f"the video is over the {max_bytes}-byte cap")
                            break
                        buf += chunk
                        if len(buf) >= _FLUSH:
                            await asyncio.to_thread(handle.write, bytes(buf))
                            buf.clear()
                    if failure is None and buf:
                        await asyncio.to_thread(handle.write, bytes(buf))
                    if failure is None and written == 0:
                        failure = DownloadError("the video link answered with an empty file", retryable=True)
        except TimeoutError:
            failure = DownloadTimeoutError(f"timed out downloading the video after {total_seconds:g}s")
        except aiohttp.ClientConnectorError:
            failure = DownloadConnectionError("could not connect to the video host")
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            failure = DownloadConnectionError("the connection to the video host dropped")
        except aiohttp.ClientError as exc:
            failure = DownloadError(f"the video download failed ({type(exc).__name__})", retryable=False)
        except OSError as exc:
            failure = DownloadError(
                f"could not write the video file ({exc.strerror or 'OS error'})", retryable=False
            )
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

    @staticmethod
    def _download_status_error(status: int) -> DownloadError | None:
        if status == 200:
            return None
        if status in (401, 403, 404, 410):
            return LinkExpiredError(f"the video link has expired (HTTP {status})", status=status)
        retryable = status in (408, 425, 429) or status >= 500
        return DownloadError(f"the video host answered HTTP {status}", status=status, retryable=retryable)

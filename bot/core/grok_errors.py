"""The Grok client's typed errors, and how a provider answer maps to one.

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

Task status words (``read_status``): the documented queued/processing/completed/failed, plus the
undocumented words whose meaning is plain; any other word is ``unknown``, never an error (see there).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

MAX_PROVIDER_MESSAGE: Final = 500
MAX_RETRY_AFTER: Final = 3600.0  # a provider asking for more than an hour is wrong or hostile
Operation = Literal["create", "result"]
#: What a task status word means. ``unknown``: a word nobody documented; the caller decides (keep polling).
TaskStatus = Literal["queued", "processing", "completed", "failed", "unknown"]


# --------------------------------------------------------------------------------------------- errors


class GrokError(Exception):
    """Base error; ``str(e)`` is short, plain English and free of secrets.

    Callers decide what to do by the error's type (create: tell the member; result: keep polling until the
    task timeout). Only a download error also says whether another try may help: ``DownloadError.retryable``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GrokConnectionError(GrokError):
    """The Grok API could not be reached, or the connection dropped."""


class GrokTimeoutError(GrokConnectionError):
    """No complete answer in time. After a create, the task may exist anyway."""


class GrokStatusError(GrokError):
    def __init__(
        self, message: str, *, status: int | None = None, provider_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.provider_message = provider_message


class AuthenticationError(GrokStatusError):
    """The API key was refused."""


class InsufficientBalanceError(GrokStatusError):
    """The provider account is out of credit."""


class BadRequestError(GrokStatusError):
    """The provider refused the request as it was sent."""


class TaskNotFoundError(GrokStatusError):
    """The provider does not know this task id."""


class RateLimitedError(GrokStatusError):
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
    """The provider is failing or down (5xx, odd answers); a later call may work."""


class MalformedResponseError(GrokError):
    """A 2xx whose body is not what the contract promises. After a create, the task may exist anyway."""

    def __init__(self, message: str, *, status: int | None = None, task_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.task_id = task_id


class DownloadError(GrokError):
    """Fetching the video failed. ``retryable``: whether another try may succeed, decided per instance (a
    CDN outage, a full disk: yes; a 400: no). The poller retries until the task's deadline, or gives up at
    once when it is False."""

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
    """The video host could not be reached, or the connection dropped (retryable)."""


class DownloadTimeoutError(DownloadConnectionError, GrokTimeoutError):
    """The video did not arrive in time (retryable)."""


class DownloadStalledError(DownloadTimeoutError):
    """The video host sent too little over a stall window, or nothing at all (retryable)."""


class NotAVideoError(DownloadError):
    """The link answered with something other than a video: an error page, JSON, an unknown format."""

    retryable = False


NOT_A_VIDEO: Final = "the video service sent something that is not a video"


# --------------------------------------------------------------------------------------------- video checks

#: Media types a video host may label a video with that are plainly something else (an error page, an API
#: answer, a picture). Anything else (video/*, application/octet-stream, binary/octet-stream, none at all,
#: a CDN's odd label such as application/force-download) is judged by its first bytes alone.
_NOT_VIDEO_TYPES: Final = frozenset({"application/json", "application/xml", "application/javascript"})
_NOT_VIDEO_TOP: Final = frozenset({"text", "image", "font", "multipart", "message"})
#: Bytes read before judging a body: enough to recognise a container (an ISO-BMFF box header is a size,
#: then ``ftyp`` at offset 4) and to show the owner what came instead.
SIGNATURE_BYTES: Final = 16
_EBML_MAGIC: Final = b"\x1a\x45\xdf\xa3"  # WebM and Matroska


def is_clearly_not_video(content_type: str | None) -> bool:
    """Whether a Content-Type header names something that cannot be a video (text/html, JSON, ...)."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    top = media.split("/", 1)[0]
    return media in _NOT_VIDEO_TYPES or top in _NOT_VIDEO_TOP or media.endswith(("+json", "+xml"))


def has_video_signature(head: bytes) -> bool:
    """Whether a body starts like an MP4/MOV (an ISO-BMFF ``ftyp`` box) or a WebM/Matroska (EBML) file."""
    return head[4:8] == b"ftyp" or head.startswith(_EBML_MAGIC)


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


# --------------------------------------------------------------------------------------------- status words

#: The documented words, and undocumented ones whose meaning is plain (providers drift, and a word read as
#: "unknown" would leave the task waiting for the whole TASK_TIMEOUT_SECONDS). Keys are lower case with
#: "_" for spaces and hyphens. A success word still needs a usable video_url to count as completed.
_STATUS_WORDS: Final[Mapping[str, TaskStatus]] = {
    "queued": "queued", "pending": "queued", "waiting": "queued", "submitted": "queued", "in_queue": "queued",
    "processing": "processing", "running": "processing", "in_progress": "processing",
    "generating": "processing",
    "completed": "completed", "complete": "completed", "succeeded": "completed", "success": "completed",
    "successful": "completed", "done": "completed",
    "failed": "failed", "failure": "failed", "error": "failed", "errored": "failed", "cancelled": "failed",
    "canceled": "failed", "rejected": "failed", "expired": "failed", "timeout": "failed",
    "timed_out": "failed", "aborted": "failed",
}  # fmt: skip
#: What the member reads when a task ends under one of these words and the provider says nothing more
#: ("failed" has its own default, chosen by the caller).
_ENDED_WITHOUT_REASON: Final[Mapping[str, str]] = {
    "failure": "The video service reported a failure while making this video.",
    "error": "The video service reported an error while making this video.",
    "errored": "The video service reported an error while making this video.",
    "cancelled": "The video service cancelled this video.",
    "canceled": "The video service cancelled this video.",
    "rejected": "The video service rejected this video.",
    "expired": "The video service let this video expire before making it.",
    "timeout": "The video service gave up on this video: it took too long.",
    "timed_out": "The video service gave up on this video: it took too long.",
    "aborted": "The video service stopped making this video.",
}


def read_status(word: str) -> tuple[TaskStatus, str | None]:
    """What a status word means, and for a word that ends the task without a video, a reason in plain
    words for when the provider gives none: ``read_status("Cancelled")`` → ``("failed", "The video service
    cancelled this video.")``."""
    key = "_".join(word.lower().replace("-", " ").split())
    return _STATUS_WORDS.get(key, "unknown"), _ENDED_WITHOUT_REASON.get(key)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def as_int(value: object) -> int | None:
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


def as_float(value: object) -> float | None:
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


def is_error_envelope(payload: object) -> bool:
    """Whether a 2xx body is the provider's error envelope rather than a task."""
    if not isinstance(payload, dict) or valid_id(payload.get("id")):
        return False  # a task body: its ``error`` is the task's failure reason, read later
    error = payload.get("error")
    return (
        _is_error_code(payload.get("code"))
        or payload.get("success") is False
        or isinstance(error, dict)
        or (isinstance(error, str) and bool(error.strip()))
    )


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    message: str | None  # already cleaned
    words: str  # message plus type/code, for classification only
    code: int | None  # numeric envelope code


def error_info(payload: object, text: str, secret: str) -> ErrorInfo:
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
            code = as_int(error.get("code"))
        elif isinstance(error, str) and error.strip():
            message = error
        for key in ("msg", "message", "detail"):
            if isinstance(payload.get(key), str) and payload[key].strip():
                message = message or payload[key]
        raw_code = payload.get("code")
        parts.append(str(raw_code or ""))
        code = as_int(raw_code) if as_int(raw_code) is not None else code
        if message is None and payload:
            message = json.dumps(payload, ensure_ascii=False)[: MAX_PROVIDER_MESSAGE * 2]
    elif text.lstrip().startswith("<"):  # an HTML error page from a proxy: its title is the useful part
        match = _TITLE_RE.search(text)
        message = match.group(1) if match else None
    elif text.strip():
        message = text
    cleaned = clean_text(message, secret) if message else None
    parts.insert(0, cleaned or "")
    return ErrorInfo(cleaned, " ".join(parts), code)


def classify(op: Operation, http_status: int, info: ErrorInfo) -> type[GrokStatusError]:
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


SUMMARIES: Final[Mapping[type[GrokStatusError], str]] = {
    AuthenticationError: "the Grok API refused the API key",
    InsufficientBalanceError: "the Grok API account has insufficient balance",
    BadRequestError: "the Grok API rejected the request",
    TaskNotFoundError: "the Grok API does not know this task",
    RateLimitedError: "the Grok API is rate limiting requests",
    UnavailableError: "the Grok API is unavailable",
}


@contextlib.contextmanager
def no_chain() -> Iterator[None]:
    """Cut every exception chain at the public boundary: a chained aiohttp error would carry the key."""
    try:
        yield
    except GrokError as err:
        err.__cause__ = None
        err.__context__ = None
        err.__suppress_context__ = True
        raise

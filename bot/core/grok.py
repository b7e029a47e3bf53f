"""HTTP client for the Grok video provider: create a task, poll it, download the finished video.

No Discord here, and no automatic retries: a create retried after a timeout may be billed twice, so the
caller decides by the error's type; a download error also says whether another try may help
(``DownloadError.retryable``).

Secret safety: the API key travels only in the ``Authorization`` header of create/result. aiohttp's
exceptions carry ``request_info`` whose headers include that header, so none of them ever leaves this module,
not even as ``__cause__``/``__context__``; errors are rebuilt from short, plain texts that are scrubbed of the
key. The video link belongs to a third-party CDN and is fetched without the header.

The errors, how provider answers map to them and what status words mean: grok_errors.py (re-exported here).

Request budget: every create and result call passes through one ``Budget`` (bot/core/budget.py: a
``RequestBudget``, or a ``SharedBudget`` for several processes on one PostgreSQL database) when one is
given: at most PROVIDER_MAX_RPS, and a 429 from either call pauses both until its Retry-After. A call
spends at most half its time limit waiting for its turn; one that would wait longer (a long pause) fails at
once as RateLimitedError with the remaining wait, sent to nobody. Downloads go to the file host and are not
counted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import quote

import aiohttp
import yarl

from bot.core import metrics, video_host
from bot.core.budget import PAUSE_WITHOUT_RETRY_AFTER, Budget, BudgetBusy
from bot.core.grok_errors import (  # noqa: F401
    MAX_PROVIDER_MESSAGE,
    MAX_RETRY_AFTER,
    NOT_A_VIDEO,
    SIGNATURE_BYTES,
    SUMMARIES,
    AuthenticationError,
    BadRequestError,
    DownloadConnectionError,
    DownloadError,
    DownloadStalledError,
    DownloadTimeoutError,
    GrokConnectionError,
    GrokError,
    GrokStatusError,
    GrokTimeoutError,
    InsufficientBalanceError,
    LinkExpiredError,
    MalformedResponseError,
    NotAVideoError,
    Operation,
    RateLimitedError,
    TaskNotFoundError,
    TaskStatus,
    UnavailableError,
    VideoTooLargeError,
    as_float,
    as_int,
    classify,
    clean_text,
    error_info,
    has_video_signature,
    is_clearly_not_video,
    is_error_envelope,
    no_chain,
    parse_retry_after,
    read_status,
    valid_id,
)

# The errors live in bot/core/grok_errors.py and are re-exported: callers use bot.core.grok.<Error>.
from bot.core.links import seal_link, unseal_link
from bot.core.video_host import STALL_MIN_BYTES  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

_MAX_API_BODY: Final = 1 << 20  # task bodies are tiny; never buffer a runaway answer
_CHUNK: Final = 64 * 1024
_FLUSH: Final = 1 << 20  # batch disk writes so each thread hop moves a useful amount

# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CreatedTask:
    id: str
    status: str  # the provider's word, as given (cleaned): whatever it is, the task exists and is polled
    model: str | None
    created: int | None


@dataclass(frozen=True, slots=True)
class TaskResult:
    id: str
    status: TaskStatus  # what the provider's word means (grok_errors.read_status)
    model: str | None
    created: int | None
    video_url: str | None  # set, and a usable http(s) link, exactly when status is "completed"
    actual_duration: float | None
    error: str | None  # "failed": the provider's reason, else our words for an undocumented end word
    provider_status: str  # the word as the provider gave it (cleaned), e.g. "succeeded", "on_hold"


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
        budget: Budget | None = None,
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
        self._total_timeout = total_timeout
        self._budget = budget
        self.answers = metrics.ProviderHealth()  # the last answer's status, for /healthz

    def paused_for(self) -> float:
        """Seconds until the provider-wide pause after a 429 ends (0 when none, or without a budget)."""
        return 0.0 if self._budget is None else self._budget.paused_for()

    def __repr__(self) -> str:
        return f"GrokClient(base_url={self._base_url!r}, api_key='***')"

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
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
        with no_chain():
            status, payload, text, headers = await self._call("create", "POST", "/v1/grok/videos", body)
            self._raise_for_error("create", status, payload, text, headers)
            task_id, task_status, model, created = self._task_fields(status, payload, text)
            return CreatedTask(id=task_id, status=task_status, model=model, created=created)

    async def result(self, task_id: str) -> TaskResult:
        if not valid_id(task_id):
            raise ValueError("task_id must be a non-empty string")
        path = "/v1/result/" + quote(task_id, safe="")
        with no_chain():
            status, payload, text, headers = await self._call("result", "GET", path, None)
            self._raise_for_error("result", status, payload, text, headers)
            got_id, word, model, created = self._task_fields(status, payload, text)
            task_status, ended_reason = read_status(word)
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
                        f"the Grok API reported a finished task ({word}) without a usable video_url",
                        status=status,
                        task_id=got_id,
                    )
                # Sealed: a link signed with our key keeps the key out of the store, logs and posts.
                video_url = seal_link(raw_url.strip(), self._api_key) if isinstance(raw_url, str) else None
                actual = as_float(payload.get("actualDuration", payload.get("actual_duration")))
            elif task_status == "failed":
                raw_error = payload.get("error")
                if isinstance(raw_error, dict):
                    raw_error = raw_error.get("message")
                error = clean_text(str(raw_error), self._api_key) if raw_error is not None else None
                error = error or ended_reason
            return TaskResult(
                id=got_id,
                status=task_status,
                model=model,
                created=created,
                video_url=video_url,
                actual_duration=actual,
                error=error,
                provider_status=word,
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
        total = max(self._total_timeout / 2, self._total_timeout - await self._wait_for_turn(op))
        timeout = aiohttp.ClientTimeout(total=total, connect=min(self._connect_timeout, total))
        started = time.monotonic()
        failure: GrokError | None = None
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
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
        metrics.provider_request(op, status if failure is None else failure, elapsed, self.answers)
        if failure is not None:
            log.debug("%s %s failed after %.3fs: %s", method, path, elapsed, type(failure).__name__)
            raise failure
        log.debug("%s %s -> %d in %.3fs", method, path, status, elapsed)
        text = raw.decode("utf-8", errors="replace")
        payload: Any = None
        with contextlib.suppress(ValueError, RecursionError):  # RecursionError: hostile nesting
            payload = json.loads(text)
        return status, payload, text, {} if retry_after is None else {"Retry-After": retry_after}

    async def _wait_for_turn(self, op: Operation) -> float:
        """Wait for this call's turn in the budget, for at most half the call's time limit (the create's
        grace period counts on the whole call ending within it); returns the seconds waited."""
        if self._budget is None:
            return 0.0
        try:
            # A member's create goes before the polls waiting for their turn: a member is waiting for it.
            with metrics.BUDGET_WAITERS.track_inprogress():
                return await self._budget.acquire(max_wait=self._total_timeout / 2, first=op == "create")
        except BudgetBusy as busy:
            why = "paused after a rate limit" if busy.paused else "at its request rate"
            raise RateLimitedError(
                f"{SUMMARIES[RateLimitedError]} (not sent: the bot's request budget is {why}); "
                f"retry after {busy.seconds:.0f}s ({op})",
                retry_after=busy.seconds,
            ) from None

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
        if 200 <= status < 300 and not is_error_envelope(payload):
            return
        info = error_info(payload, text, self._api_key)
        kind = classify(op, status, info)
        where = f"HTTP {status}" if info.code is None or not 200 <= status < 300 else f"code {info.code}"
        message = f"{SUMMARIES[kind]} ({where})"
        if kind is RateLimitedError:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            if self._budget is not None:  # everything waits, polls and creates alike
                self._budget.pause(PAUSE_WITHOUT_RETRY_AFTER if retry_after is None else retry_after)
                log.warning(
                    "provider rate limit (%s): pausing every request for %.1f s",
                    op,
                    self._budget.paused_for(),
                )
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
        # Any status word is accepted here (an unfamiliar one is read as "unknown" by read_status); only an
        # answer without one is malformed.
        raw_status = payload.get("status")
        word = clean_text(raw_status, self._api_key, 40) if isinstance(raw_status, str) else None
        if word is None:
            raise MalformedResponseError(
                f"the Grok API answer had no task status (HTTP {status})", status=status, task_id=task_id
            )
        model = payload.get("model")
        created = as_int(payload.get("created"))
        return task_id, word, model if isinstance(model, str) else None, created

    # ----------------------------------------------------------------------------------------- download

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int,
        timeout: float = 300.0,  # noqa: ASYNC109  # given to aiohttp as this request's connect+total limit
        stall_seconds: float = 30.0,
    ) -> int:
        """Stream the finished video at ``url`` to ``dest`` (bot/core/video_host.py); returns the bytes
        written. A link sealed by this client (signed with the API key) is unsealed for this request only."""
        link = unseal_link(url.strip(), self._api_key) if isinstance(url, str) else url
        return await video_host.download(
            self._get_session(),
            link,
            Path(dest),
            max_bytes=max_bytes,
            timeout=timeout,
            stall_seconds=stall_seconds,
            connect_timeout=self._connect_timeout,
        )

    # ----------------------------------------------------------------------------------------- key check

    async def check_key(self) -> None:
        """Whether the provider accepts the API key, for one harmless request: the provider has no account
        or balance endpoint, so this polls a task id that cannot exist (``GET /v1/result/keycheck-<random>``),
        which costs nothing.

        Returns when the key got through: a not-found answer (the usual one), or any 2xx. Raises
        AuthenticationError when the key is refused (401/403, or an error envelope saying so). Any other
        GrokError (no connection, a timeout, a 5xx, a 429, an odd refusal) means the check could not tell.
        """
        try:
            await self.result("keycheck-" + uuid.uuid4().hex)
        except (TaskNotFoundError, MalformedResponseError):
            return  # the provider looked for the task: the key passed (a malformed answer is always a 2xx)

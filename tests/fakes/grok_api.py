"""A loopback stand-in for the Grok video provider, following docs/provider-contract.md to the letter.

Mounted under ``/kyyReactApiServer`` like the real service, so ``base_url`` carries a path. Bodies are the
documented examples: create answers ``{"id", "object", "created", "model", "status": "queued", "error": null}``;
result answers the documented queued/processing, completed (with ``video_url`` and ``actualDuration``) and
failed shapes. The finished video is served by this same server under ``/cdn/<id>.mp4``, outside the API
prefix and without authentication, like the provider's temporary third-party link.

What the provider leaves undocumented is chosen here and kept in one place: error bodies are OpenAI-style
(``{"error": {"message", "type", "code"}}``), a bad key is 401, an invalid create is 400, an unknown task id
is 404, an expired video link is 403. ``fail_next`` can impose any other status/body/header instead.

A task's link can also misbehave like a real file host (``video_host_mode``): trickle, stall, answer an HTML
error page or a body that is not a video, or never end; ``served`` counts the body bytes each link sent.

Time comes from ``clock`` (``time.monotonic`` unless a test passes its own), so tasks can follow a script
(``processing_after``/``complete_after``) or be driven by hand with ``complete()``/``fail()``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

PREFIX = "/kyyReactApiServer"
AUTH_OK = "<valid bearer key>"  # what RecordedRequest.headers shows instead of a correct Authorization
AUTH_WRONG = "<wrong credentials>"  # ... instead of a present but incorrect one (absent stays absent)

Endpoint = Literal["create", "result", "download"]
TaskStatus = Literal["queued", "processing", "completed", "failed"]
#: How a task's video link answers, set with ``FakeGrokAPI.video_host_mode``:
#: video      the task's video, with ``content_type`` (say application/octet-stream) instead of video/mp4
#: trickle    ``bytes_per_second`` of a generated video, every ``interval``, ``total`` bytes in all
#: stall      headers (with the full Content-Length) and ``head`` bytes of the video, then nothing at all
#: html       200 text/html: an error page, padded to ``total`` bytes and streamed in 64 KiB writes
#: not_video  200 labelled video/mp4, but a JSON error text padded to ``total`` bytes
#: endless    200 video/mp4 without a Content-Length: a video's start, then zeros for ever
HostMode = Literal["video", "trickle", "stall", "html", "not_video", "endless"]
_HOST_CHUNK = 64 * 1024
_DEFAULT_TYPES: Mapping[HostMode, str] = {"html": "text/html; charset=utf-8"}
_DEFAULT_TOTALS: Mapping[HostMode, int] = {"trickle": 1 << 20, "html": 64 << 20, "not_video": 64 << 10}


def _fake_mp4() -> bytes:
    brands = b"isom" + (512).to_bytes(4, "big") + b"isomiso2avc1mp41"
    ftyp = (8 + len(brands)).to_bytes(4, "big") + b"ftyp" + brands
    payload = bytes((i * 7 + 3) % 256 for i in range(4096))
    mdat = (8 + len(payload)).to_bytes(4, "big") + b"mdat" + payload
    return ftyp + mdat


FAKE_MP4: bytes = _fake_mp4()  # deterministic: tests compare downloads against it byte for byte


@dataclass(frozen=True)
class _ModelRules:
    durations: frozenset[int] | None  # None: duration must not be sent
    aspect_ratios: frozenset[str]
    resolutions: frozenset[str]
    max_images: int | None  # None: supported, no count documented
    public_urls_only: bool


MODELS: Mapping[str, _ModelRules] = {
    "grok_video3": _ModelRules(
        frozenset(range(6, 31)),
        frozenset({"16:9", "9:16", "1:1", "3:2", "2:3"}),
        frozenset({"480p", "720p"}),
        7,
        False,
    ),
    "grok_video3_pro": _ModelRules(None, frozenset({"16:9"}), frozenset({"720p"}), None, False),
    "grok_video3_max": _ModelRules(
        frozenset({6, 10, 12, 16, 20, 30}),
        frozenset({"16:9", "9:16", "1:1"}),
        frozenset({"480p", "720p"}),
        5,
        True,
    ),
    "grok_video3_stable": _ModelRules(
        frozenset({6, 10}),
        frozenset({"16:9", "9:16", "3:2", "2:3", "1:1"}),
        frozenset({"480p", "720p"}),
        7,
        True,
    ),
}


@dataclass(frozen=True)
class RecordedRequest:
    endpoint: Endpoint | Literal["other"]
    method: str
    path: str  # without PREFIX, e.g. "/v1/grok/videos", "/v1/result/video_grok_1000000001", "/cdn/x.mp4"
    headers: Mapping[str, str]  # case-insensitive; Authorization is AUTH_OK or AUTH_WRONG, never the key
    json: Any  # the parsed body, or None (no body or not JSON; see text)
    text: str | None  # the raw body when there was one
    time: float  # the fake's clock
    task_id: str | None = None
    query: str = ""  # the raw query string, exactly as sent


@dataclass
class TaskScript:
    processing_after: float = 0.0  # seconds after create until "processing"
    complete_after: float | None = 0.0  # ... until "completed" (or "failed" with fail_reason); None: by hand
    fail_reason: str | None = None
    video: bytes | None = None  # served at the link; default FAKE_MP4
    actual_duration: float | None = None  # default: the requested duration, else 10
    link_ttl: float | None = None  # the link answers 403 this many seconds after completion
    link_status: int | None = None  # the link answers this HTTP status, every time (a broken file host)
    serve_chunked: bool = False  # stream the video without Content-Length
    #: Once finished, answer this undocumented status word (say "succeeded") instead of completed/failed;
    #: the link and the error are sent as for the documented word.
    reported_status: str | None = None
    #: Serve a generated video of this many bytes (FAKE_MP4, then zeros), streamed in 1 MiB chunks with a
    #: Content-Length, never held in memory whole: for benchmarks of very large deliveries.
    video_size: int | None = None
    #: The link is signed with the caller's API key (`?api_key=<key>&sig=…`) and refused (403) without it,
    #: as some providers do: the bot must keep such a link out of its database and its posts.
    link_carries_key: bool = False


@dataclass(frozen=True)
class VideoHost:
    mode: HostMode
    content_type: str
    total: int
    bytes_per_second: int
    interval: float
    head: int


@dataclass
class FakeTask:
    id: str
    model: str
    created: int  # unix seconds, as reported
    created_at: float  # the fake's clock
    body: dict[str, Any]
    script: TaskScript
    clock: Callable[[], float] = field(repr=False)
    forced_status: TaskStatus | None = None
    forced_at: float | None = None
    forced_video: bytes | None = None
    forced_reason: str | None = None
    word: str | None = None  # report_status(): the status word answered instead of the documented one
    word_error: str | None = None
    host: VideoHost | None = None  # video_host_mode(): how the link misbehaves; None: it serves the video

    @property
    def status(self) -> TaskStatus:
        return self.status_at(self.clock())

    def status_at(self, now: float) -> TaskStatus:
        if self.forced_status is not None:
            return self.forced_status
        elapsed = now - self.created_at
        if self.script.complete_after is not None and elapsed >= self.script.complete_after:
            return "failed" if self.script.fail_reason is not None else "completed"
        return "processing" if elapsed >= self.script.processing_after else "queued"

    @property
    def completed_at(self) -> float | None:
        if self.forced_status in ("completed", "failed"):
            return self.forced_at
        if self.forced_status is None and self.script.complete_after is not None:
            return self.created_at + self.script.complete_after
        return None

    @property
    def video(self) -> bytes:
        return self.forced_video or self.script.video or FAKE_MP4

    @property
    def error(self) -> str | None:
        return self.forced_reason if self.forced_status == "failed" else self.script.fail_reason

    def answer(self) -> tuple[str, str | None]:
        """The status word and the error the result endpoint reports now."""
        status = self.status
        if self.word is not None:
            return self.word, self.word_error
        error = self.error if status == "failed" else None
        if self.script.reported_status is not None and status in ("completed", "failed"):
            return self.script.reported_status, error
        return status, error

    @property
    def actual_duration(self) -> float:
        if self.script.actual_duration is not None:
            return self.script.actual_duration
        duration = self.body.get("duration")
        return float(duration) if isinstance(duration, int) and not isinstance(duration, bool) else 10.0


@dataclass
class _Intercept:
    status: int | None  # None: answer normally, only late
    body: str | dict[str, Any] | None
    headers: dict[str, str]
    delay: float
    remaining: int


def _error_body(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code}}


def _json_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class FakeGrokAPI:
    def __init__(
        self, api_key: str = "test-grok-key", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.api_key = api_key
        self.clock = clock
        self.base_url = ""
        self.origin = ""
        self.requests: list[RecordedRequest] = []
        self.creates: list[dict[str, Any]] = []
        self.tasks: dict[str, FakeTask] = {}
        self.default_script = TaskScript()
        #: Seconds every answer of an endpoint waits before it is sent (a provider's round trip), after the
        #: request is recorded; 0 answers at once. For benchmarks: {"result": 0.3} makes every poll take 300 ms.
        self.latency: dict[Endpoint, float] = {"create": 0.0, "result": 0.0, "download": 0.0}
        self._scripts: deque[TaskScript] = deque()
        self._intercepts: dict[str, deque[_Intercept]] = {
            "create": deque(),
            "result": deque(),
            "download": deque(),
        }
        #: Body bytes each task's link has written so far (its latest download), by task id.
        self.served: dict[str, int] = {}
        self._counter = 0
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(PREFIX + "/v1/grok/videos", self._create)
        app.router.add_get(PREFIX + "/v1/result/{task_id}", self._result)
        app.router.add_get("/cdn/{name}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._other)
        # handler_cancellation: a client that gave up on a slow answer cancels the sleeping handler
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._changed = asyncio.Condition()
        self.origin = f"http://127.0.0.1:{site.port}"
        self.base_url = self.origin + PREFIX
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGrokAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------ control

    def script_next(self, *scripts: TaskScript) -> None:
        """Scripts for the next successful creates, in order; later ones use ``default_script``."""
        self._scripts.extend(scripts)

    def fail_next(
        self,
        endpoint: Endpoint,
        *,
        status: int = 500,
        body: str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """The next ``times`` calls to ``endpoint`` answer ``status`` with ``body`` (a str is sent verbatim
        as application/json unless ``headers`` set a Content-Type; None: an OpenAI-style error body)."""
        self._intercepts[endpoint].append(_Intercept(status, body, dict(headers or {}), delay, times))

    def slow_next(self, endpoint: Endpoint, delay: float, times: int = 1) -> None:
        """The next ``times`` calls to ``endpoint`` answer normally, but only after ``delay`` seconds."""
        self._intercepts[endpoint].append(_Intercept(None, None, {}, delay, times))

    def complete(self, task_id: str, video: bytes | None = None) -> None:
        task = self.tasks[task_id]
        task.forced_status, task.forced_at, task.forced_video = "completed", self.clock(), video
        task.word = None

    def fail(self, task_id: str, reason: str) -> None:
        task = self.tasks[task_id]
        task.forced_status, task.forced_at, task.forced_reason = "failed", self.clock(), reason
        task.word = None

    def set_processing(self, task_id: str) -> None:
        task = self.tasks[task_id]
        task.forced_status, task.forced_at = "processing", None
        task.word = None

    def report_status(self, task_id: str, word: str, *, error: str | None = None) -> None:
        """From now on answer ``"status": word`` (an undocumented word such as ``cancelled``) with ``error``
        for this task; the link is still sent once it has completed. complete/fail/set_processing undo it."""
        task = self.tasks[task_id]
        task.word, task.word_error = word, error

    def video_host_mode(
        self,
        task_id: str,
        mode: HostMode,
        *,
        bytes_per_second: int = 2048,
        interval: float = 0.05,
        total: int | None = None,
        content_type: str | None = None,
        head: int = 1024,
    ) -> None:
        """From now on the task's link answers in ``mode`` (see HostMode); ``content_type`` and ``total``
        default to the mode's own (video/mp4, or text/html for "html"; the video's size, or 1 MiB for a
        trickle, 64 MiB for "html", 64 KiB for "not_video")."""
        video_size = len(self.tasks[task_id].video)
        self.tasks[task_id].host = VideoHost(
            mode,
            content_type or _DEFAULT_TYPES.get(mode, "video/mp4"),
            total if total is not None else _DEFAULT_TOTALS.get(mode, video_size),
            bytes_per_second,
            interval,
            head,
        )

    def video_url(self, task_id: str) -> str:
        return (
            f"{self.origin}/cdn/{urllib.parse.quote(task_id, safe='')}.mp4"  # any id, every character encoded
        )

    # ------------------------------------------------------------------------------------------ inspection

    def result_calls(self, task_id: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.endpoint == "result" and (task_id is None or r.task_id == task_id)
        ]

    async def wait_for_requests(
        self,
        predicate: Callable[[RecordedRequest], bool] = lambda r: True,
        *,
        count: int = 1,
        since: int = 0,
        timeout: float = 5.0,  # a test helper: the limit is the point
    ) -> list[RecordedRequest]:
        """Wait until ``count`` recorded requests from index ``since`` on satisfy ``predicate``."""
        assert self._changed is not None, "start() the fake first"

        def matching() -> list[RecordedRequest]:
            return [r for r in self.requests[since:] if predicate(r)]

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = [f"{r.method} {r.path}" for r in self.requests[since:]]
            raise TimeoutError(
                f"saw {len(matching())} of {count} matching requests in {timeout}s; all requests: {seen}"
            ) from None
        return matching()

    # ------------------------------------------------------------------------------------------ handlers

    async def _record(
        self, request: web.Request, endpoint: Endpoint | Literal["other"], task_id: str | None = None
    ) -> RecordedRequest:
        raw = await request.text() if request.can_read_body else None
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        headers: CIMultiDict[str] = CIMultiDict(request.headers)
        if "Authorization" in headers:
            headers["Authorization"] = AUTH_OK if self._authorised(request) else AUTH_WRONG
        path = request.path[len(PREFIX) :] if request.path.startswith(PREFIX + "/") else request.path
        recorded = RecordedRequest(
            endpoint,
            request.method,
            path,
            CIMultiDictProxy(headers),
            parsed,
            raw,
            self.clock(),
            task_id,
            request.rel_url.raw_query_string,
        )
        self.requests.append(recorded)
        if endpoint == "create":
            self.creates.append(parsed if isinstance(parsed, dict) else {"<unparsed>": raw})
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
        return recorded

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _intercepted(self, endpoint: Endpoint) -> web.Response | None:
        if self.latency[endpoint] > 0:
            await asyncio.sleep(self.latency[endpoint])
        queue = self._intercepts[endpoint]
        if not queue:
            return None
        intercept = queue[0]
        intercept.remaining -= 1
        if intercept.remaining <= 0:
            queue.popleft()
        if intercept.delay > 0:
            await asyncio.sleep(intercept.delay)
        if intercept.status is None:
            return None
        headers = dict(intercept.headers)
        body = intercept.body
        if body is None:
            try:
                phrase = http.HTTPStatus(intercept.status).phrase
            except ValueError:
                phrase = "Error"
            body = _error_body(phrase, "upstream_error", str(intercept.status))
        text = body if isinstance(body, str) else json.dumps(body)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return web.Response(status=intercept.status, body=text.encode(), headers=headers)

    def _unauthorised(self) -> web.Response:
        return web.json_response(
            _error_body("Invalid API key provided.", "authentication_error", "invalid_api_key"), status=401
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request, "create")
        if (answer := await self._intercepted("create")) is not None:
            return answer
        if not self._authorised(request):
            return self._unauthorised()
        body = recorded.json
        problem = "Request body must be a JSON object." if not isinstance(body, dict) else _invalid(body)
        if problem is not None or not isinstance(body, dict):
            return web.json_response(
                _error_body(problem or "Invalid request.", "invalid_request_error", "invalid_parameter"),
                status=400,
            )
        self._counter += 1
        task = FakeTask(
            id=f"video_grok_{1_000_000_000 + self._counter}",
            model=body["model"],
            created=int(time.time()),
            created_at=self.clock(),
            body=body,
            script=self._scripts.popleft() if self._scripts else dataclasses.replace(self.default_script),
            clock=self.clock,
        )
        self.tasks[task.id] = task
        return web.json_response(
            {
                "id": task.id,
                "object": "video",
                "created": task.created,
                "model": task.model,
                "status": "queued",
                "error": None,
            }
        )

    async def _result(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        await self._record(request, "result", task_id)
        if (answer := await self._intercepted("result")) is not None:
            return answer
        if not self._authorised(request):
            return self._unauthorised()
        task = self.tasks.get(task_id)
        if task is None:
            return web.json_response(
                _error_body("Task not found.", "invalid_request_error", "task_not_found"), status=404
            )
        status = task.status
        word, error = task.answer()
        answer_body: dict[str, Any] = {
            "id": task.id,
            "object": "video",
            "created": task.created,
            "model": task.model,
            "status": word,
            "video_url": None,
        }
        if status == "completed":
            answer_body["video_url"] = self.video_url(task.id)
            if task.script.link_carries_key:
                answer_body["video_url"] += f"?api_key={self.api_key}&sig=fake"
            answer_body["actualDuration"] = _json_number(task.actual_duration)
        answer_body["error"] = error
        return web.json_response(answer_body)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        task_id = name.removesuffix(".mp4")
        await self._record(request, "download", task_id)
        if (answer := await self._intercepted("download")) is not None:
            return answer
        task = self.tasks.get(task_id)
        now = self.clock()
        if task is None or not name.endswith(".mp4") or task.status_at(now) != "completed":
            return web.Response(status=404, text="Not Found")
        if task.script.link_status is not None:
            return web.Response(status=task.script.link_status, text="Upstream trouble")
        if task.script.link_carries_key and request.query.get("api_key") != self.api_key:
            return web.Response(status=403, text="Forbidden")
        done = task.completed_at
        if task.script.link_ttl is not None and done is not None and now - done >= task.script.link_ttl:
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                content_type="application/xml",
            )
        if task.host is not None:
            return await self._misbehave(request, task.id, task.video, task.host)
        if task.script.video_size is not None:
            return await _stream_generated(request, task.script.video_size)
        video = task.video
        if not task.script.serve_chunked:
            return web.Response(body=video, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(video), 16 * 1024):
            await response.write(video[start : start + 16 * 1024])
        await response.write_eof()
        return response

    async def _misbehave(
        self, request: web.Request, task_id: str, video: bytes, host: VideoHost
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": host.content_type})
        if host.mode != "endless":
            response.content_length = host.total
        await response.prepare(request)
        self.served[task_id] = 0
        step = max(1, int(host.bytes_per_second * host.interval)) if host.mode == "trickle" else _HOST_CHUNK
        try:
            for chunk in _host_body(video, host, step):
                await response.write(chunk)
                self.served[task_id] += len(chunk)
                if host.mode == "trickle":
                    await asyncio.sleep(host.interval)
            if host.mode == "stall":
                await asyncio.sleep(3600)  # the client gives up (or the fake stops) long before
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up: that is what a refused or stalled download does
        return response

    async def _other(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, "other")
        return web.json_response(_error_body("Not found.", "invalid_request_error", "not_found"), status=404)


_DATA_URL = re.compile(r"^\s*data:", re.IGNORECASE)


async def _stream_generated(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
    response.content_length = size
    await response.prepare(request)
    head = FAKE_MP4[:size]
    await response.write(head)
    zeros = bytes(1024 * 1024)
    left = size - len(head)
    while left > 0:
        chunk = zeros[: min(left, len(zeros))]
        await response.write(chunk)
        left -= len(chunk)
    await response.write_eof()
    return response


_ERROR_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
_ERROR_JSON = b'{"error": {"message": "The object storage quota was exceeded.", "code": "QuotaExceeded"}}'


def _host_body(video: bytes, host: VideoHost, step: int) -> Iterator[bytes]:
    """The chunks a misbehaving link writes, ``step`` bytes each, lazily (an endless body never ends)."""
    if host.mode == "stall":
        yield video[: host.head]
        return
    start = {"html": _ERROR_PAGE, "not_video": _ERROR_JSON}.get(host.mode, video)
    filler = b" " if host.mode in ("html", "not_video") else b"\x00"
    sent = 0
    while host.mode == "endless" or sent < host.total:
        size = step if host.mode == "endless" else min(step, host.total - sent)
        chunk = start[sent : sent + size]
        chunk += filler * (size - len(chunk))
        sent += size
        yield chunk


def _invalid(body: dict[str, Any]) -> str | None:
    """The provider's refusal for an invalid create body, or None."""
    model = body.get("model")
    if not isinstance(model, str) or model not in MODELS:
        return f"Invalid model {model!r}. Supported models: {', '.join(MODELS)}."
    rules = MODELS[model]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required."
    if "duration" in body:
        duration = body["duration"]
        if rules.durations is None:
            return f"{model} has a fixed duration of 10 seconds; do not set duration."
        if not isinstance(duration, int) or isinstance(duration, bool) or duration not in rules.durations:
            return f"duration {duration!r} is not supported by {model}."
    if "aspect_ratio" in body and body["aspect_ratio"] not in rules.aspect_ratios:
        return f"aspect_ratio {body['aspect_ratio']!r} is not supported by {model}."
    if "resolution" in body and body["resolution"] not in rules.resolutions:
        return f"resolution {body['resolution']!r} is not supported by {model}."
    if "image_urls" in body:
        images = body["image_urls"]
        if not isinstance(images, list) or not images:
            return "image_urls must be a non-empty array; omit it for text-to-video."
        if not all(isinstance(url, str) and url.strip() for url in images):
            return "image_urls must contain only non-empty strings."
        if rules.max_images is not None and len(images) > rules.max_images:
            return f"{model} accepts at most {rules.max_images} reference images."
        if rules.public_urls_only and any(
            _DATA_URL.match(url) or not url.lower().startswith(("http://", "https://")) for url in images
        ):
            return f"{model} only accepts public image URLs, not base64."
    return None


def answer_next_create_with_id(api: FakeGrokAPI, task_id: str) -> None:
    """The next create is answered (200, the documented shape) with ``task_id``, any string a hostile provider
    could send (path characters, unicode, thousands of characters), and the stand-in knows the task by that
    id from now on: polls of it answer as for any task (``queued`` until ``complete()``/``fail()``)."""
    now = api.clock()
    body = {"model": "grok_video3", "duration": 10}
    api.tasks[task_id] = FakeTask(
        task_id, "grok_video3", int(time.time()), now, body, TaskScript(complete_after=None), api.clock
    )
    api.fail_next(
        "create",
        status=200,
        body={"id": task_id, "object": "video", "created": int(time.time()), "model": "grok_video3",
              "status": "queued", "error": None},
    )  # fmt: skip

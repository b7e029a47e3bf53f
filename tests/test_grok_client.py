"""The real GrokClient over real loopback HTTP against the provider stand-in in tests/fakes/grok_api.py."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.grok import (
    MAX_PROVIDER_MESSAGE,
    MAX_RETRY_AFTER,
    NOT_A_VIDEO,
    STALL_MIN_BYTES,
    AuthenticationError,
    BadRequestError,
    CreatedTask,
    DownloadError,
    DownloadStalledError,
    DownloadTimeoutError,
    GrokClient,
    GrokConnectionError,
    GrokError,
    GrokStatusError,
    GrokTimeoutError,
    InsufficientBalanceError,
    LinkExpiredError,
    MalformedResponseError,
    NotAVideoError,
    RateLimitedError,
    TaskNotFoundError,
    TaskResult,
    UnavailableError,
    VideoTooLargeError,
    clean_text,
    has_video_signature,
    is_clearly_not_video,
    parse_retry_after,
)
from bot.core.links import KEY_MARK
from tests.fakes.grok_api import AUTH_OK, AUTH_WRONG, FAKE_MP4, FakeGrokAPI, TaskScript

API_KEY = "sk-test-grok-key-0123456789abcdef"
MAX_BODY = {
    "model": "grok_video3_max",
    "prompt": "A cat dancing in the rain, cinematic style",
    "duration": 10,
    "aspect_ratio": "16:9",
    "resolution": "720p",
}
TEXT_BODY = {"model": "grok_video3", "prompt": "A lighthouse at dusk, slow pan"}


class Clock:
    """A hand-driven clock for the fake, so time-based scripts need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeGrokAPI]:
    api = FakeGrokAPI(API_KEY, clock=clock)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def client(fake: FakeGrokAPI) -> AsyncIterator[GrokClient]:
    async with GrokClient(
        base_url=fake.base_url, api_key=API_KEY, connect_timeout=1.0, total_timeout=2.0
    ) as c:
        yield c


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert API_KEY not in text, f"API key leaked into log record from {record.name}"


def assert_no_secret(exc: BaseException) -> None:
    """The key is absent from the error, its attributes and whole chain; GrokErrors are never chained."""
    assert isinstance(exc, GrokError)
    assert exc.__cause__ is None and exc.__context__ is None
    assert API_KEY not in "".join(traceback.format_exception(exc))
    assert API_KEY not in str(exc) and API_KEY not in repr(exc)
    for value in vars(exc).values():
        assert API_KEY not in repr(value)


async def created(client: GrokClient, body: dict[str, Any] | None = None) -> CreatedTask:
    return await client.create(body or MAX_BODY)


# --------------------------------------------------------------------------------------------- create


async def test_create_text_to_video(client: GrokClient, fake: FakeGrokAPI) -> None:
    task = await client.create(MAX_BODY)
    assert task.id.startswith("video_grok_") and task.status == "queued"
    assert task.model == "grok_video3_max" and isinstance(task.created, int)
    assert fake.creates == [MAX_BODY]
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/grok/videos")
    assert request.headers["Authorization"] == AUTH_OK
    assert request.headers["Content-Type"] == "application/json"
    assert "image_urls" not in fake.tasks[task.id].body


async def test_create_image_to_video(client: GrokClient, fake: FakeGrokAPI) -> None:
    urls = ["https://example.com/ref1.jpg", "https://example.com/ref2.jpg"]
    task = await client.create({**TEXT_BODY, "duration": 6, "image_urls": urls})
    assert fake.creates[-1]["image_urls"] == urls
    assert fake.tasks[task.id].body["duration"] == 6


async def test_trailing_slash_in_base_url_is_harmless(fake: FakeGrokAPI) -> None:
    async with GrokClient(base_url=fake.base_url + "//", api_key=API_KEY) as c:
        await c.create(TEXT_BODY)
    assert fake.requests[-1].path == "/v1/grok/videos"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({**TEXT_BODY, "model": "grok_video9"}, "Invalid model"),
        ({"model": "grok_video3"}, "prompt is required"),
        ({"model": "grok_video3_pro", "prompt": "x", "duration": 10}, "do not set duration"),
        ({**TEXT_BODY, "image_urls": []}, "non-empty array"),
        ({**MAX_BODY, "duration": 7}, "not supported"),
        ({**MAX_BODY, "image_urls": ["data:image/png;base64,AAAA"]}, "public image URLs"),
    ],
)
async def test_create_refused_by_provider(
    client: GrokClient, fake: FakeGrokAPI, body: dict[str, Any], expected: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.create(body)
    assert info.value.status == 400
    assert info.value.provider_message is not None and expected in info.value.provider_message
    assert expected in str(info.value)
    assert fake.creates == [body] and not fake.tasks  # recorded first, no task made
    assert_no_secret(info.value)


# --------------------------------------------------------------------------------------------- result


async def test_result_follows_the_script(client: GrokClient, fake: FakeGrokAPI, clock: Clock) -> None:
    fake.script_next(TaskScript(processing_after=5, complete_after=20))
    task = await client.create({**MAX_BODY, "duration": 16})
    queued = await client.result(task.id)
    assert queued == TaskResult(
        task.id, "queued", "grok_video3_max", task.created, None, None, None, "queued"
    )
    clock.now += 5
    assert (await client.result(task.id)).status == "processing"
    clock.now += 15
    done = await client.result(task.id)
    assert done.status == "completed" and done.error is None
    assert done.video_url == fake.video_url(task.id) and done.actual_duration == 16.0
    assert [r.task_id for r in fake.result_calls(task.id)] == [task.id] * 3
    assert all(r.headers["Authorization"] == AUTH_OK for r in fake.result_calls())


async def test_result_failed_with_reason(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.script_next(TaskScript(fail_reason="Reference image could not be accessed."))
    task = await created(client)
    failed = await client.result(task.id)
    assert failed.status == "failed" and failed.video_url is None and failed.actual_duration is None
    assert failed.error == "Reference image could not be accessed."


async def test_result_driven_by_hand(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.default_script = TaskScript(complete_after=None)
    first, second = await created(client), await created(client)
    assert (await client.result(first.id)).status == "processing"
    fake.complete(first.id)
    fake.fail(second.id, "Content policy violation.")
    assert (await client.result(first.id)).actual_duration == 10.0
    assert (await client.result(second.id)).error == "Content policy violation."


async def test_result_bodies_match_the_documented_examples(fake: FakeGrokAPI, clock: Clock) -> None:
    fake.script_next(TaskScript(processing_after=0, complete_after=10), TaskScript(fail_reason="Nope."))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(fake.base_url + "/v1/grok/videos", json=MAX_BODY) as resp:
            body = await resp.json()
        assert list(body) == ["id", "object", "created", "model", "status", "error"]
        assert (body["object"], body["status"], body["error"]) == ("video", "queued", None)
        other = await (await session.post(fake.base_url + "/v1/grok/videos", json=MAX_BODY)).json()
        url = f"{fake.base_url}/v1/result/{body['id']}"
        processing = await (await session.get(url)).json()
        assert list(processing) == ["id", "object", "created", "model", "status", "video_url", "error"]
        clock.now += 10
        completed = await (await session.get(url)).json()
        assert list(completed) == [
            "id",
            "object",
            "created",
            "model",
            "status",
            "video_url",
            "actualDuration",
            "error",
        ]
        assert completed["actualDuration"] == 10 and isinstance(completed["actualDuration"], int)
        failed = await (await session.get(f"{fake.base_url}/v1/result/{other['id']}")).json()
        assert (failed["status"], failed["video_url"], failed["error"]) == ("failed", None, "Nope.")
        async with session.get(f"{fake.base_url}/v1/result/video_grok_0") as resp:
            assert resp.status == 404 and "error" in await resp.json()
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 401 and (await resp.json())["error"]["message"]
    assert fake.requests[-1].headers.get("Authorization") is None


@pytest.mark.parametrize(
    ("word", "error", "status", "reason"),
    [
        ("succeeded", None, "completed", None),
        ("SUCCESS", None, "completed", None),
        ("done", None, "completed", None),
        ("cancelled", None, "failed", "The video service cancelled this video."),
        ("Canceled", None, "failed", "The video service cancelled this video."),
        ("rejected", None, "failed", "The video service rejected this video."),
        ("timed-out", None, "failed", "The video service gave up on this video: it took too long."),
        ("error", "Render node crashed.", "failed", "Render node crashed."),
        ("failed", None, "failed", None),  # the documented word: the caller has its own default
        ("pending", None, "queued", None),
        ("In Progress", None, "processing", None),
        ("on_hold", None, "unknown", None),
    ],
)
async def test_undocumented_status_words(
    client: GrokClient, fake: FakeGrokAPI, word: str, error: str | None, status: str, reason: str | None
) -> None:
    """Read by meaning, never refused: a refused answer left the task waiting for the whole timeout."""
    fake.default_script = TaskScript(complete_after=None)
    task = await created(client)
    if status == "completed":
        fake.complete(task.id)
    fake.report_status(task.id, word, error=error)
    result = await client.result(task.id)
    assert (result.status, result.provider_status, result.error) == (status, word, reason)
    assert (result.video_url is not None) is (status == "completed")


async def test_create_answering_an_unfamiliar_status_still_gives_the_task(
    client: GrokClient, fake: FakeGrokAPI
) -> None:
    """Refusing it would tell the member 'not accepted' for a task that exists and may be billed."""
    fake.fail_next("create", status=200, body={"id": "video_grok_7", "status": "Accepted"})
    task = await created(client)
    assert (task.id, task.status) == ("video_grok_7", "Accepted")


async def test_unknown_task(client: GrokClient, fake: FakeGrokAPI) -> None:
    with pytest.raises(TaskNotFoundError) as info:
        await client.result("video_grok_404")
    assert info.value.status == 404
    assert_no_secret(info.value)


async def test_task_id_is_url_quoted(client: GrokClient, fake: FakeGrokAPI) -> None:
    with pytest.raises(TaskNotFoundError):
        await client.result("odd id?x=1#y")
    assert fake.result_calls()[-1].task_id == "odd id?x=1#y"


# --------------------------------------------------------------------------------------------- download


async def completed_task(
    client: GrokClient, fake: FakeGrokAPI, script: TaskScript | None = None
) -> TaskResult:
    fake.script_next(script or TaskScript())
    result = await client.result((await created(client)).id)
    assert result.video_url is not None
    return result


async def test_download_is_byte_identical_and_unauthenticated(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path
) -> None:
    result = await completed_task(client, fake)
    assert result.video_url is not None
    dest = tmp_path / "video.mp4"
    assert await client.download(result.video_url, dest, max_bytes=1 << 20) == len(FAKE_MP4)
    assert dest.read_bytes() == FAKE_MP4
    assert [p.name for p in tmp_path.iterdir()] == ["video.mp4"]
    (request,) = [r for r in fake.requests if r.endpoint == "download"]
    assert "Authorization" not in request.headers and AUTH_WRONG not in request.headers.values()


async def test_signed_link_reaches_the_cdn_unchanged(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path
) -> None:
    result = await completed_task(client, fake)
    query = "X-Amz-Credential=AKIA%2F20250101%2Fus&X-Amz-Signature=a+b%3D%3D&e=1"
    await client.download(f"{result.video_url}?{query}", tmp_path / "v.mp4", max_bytes=1 << 20)
    assert fake.requests[-1].query == query


async def test_a_link_signed_with_our_key_is_sealed_until_the_download(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path
) -> None:
    """The result hands the poller a link without the key (it is stored, and may be shown); the download
    puts the key back, so the CDN still gets the link exactly as the provider sent it."""
    result = await completed_task(client, fake, TaskScript(link_carries_key=True))
    assert result.video_url is not None
    assert fake.api_key not in result.video_url and KEY_MARK in result.video_url
    assert await client.download(result.video_url, tmp_path / "v.mp4", max_bytes=1 << 20) == len(FAKE_MP4)
    assert fake.requests[-1].query == f"api_key={fake.api_key}&sig=fake"


@pytest.mark.parametrize("chunked", [False, True])
async def test_download_large_video(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path, chunked: bool
) -> None:
    video = FAKE_MP4 + bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: several disk flushes
    result = await completed_task(client, fake, TaskScript(video=video, serve_chunked=chunked))
    assert result.video_url is not None
    dest = tmp_path / "sub" / "big.mp4"
    assert await client.download(result.video_url, dest, max_bytes=len(video)) == len(video)
    assert dest.read_bytes() == video


async def test_expired_link(client: GrokClient, fake: FakeGrokAPI, clock: Clock, tmp_path: Path) -> None:
    result = await completed_task(client, fake, TaskScript(link_ttl=30))
    assert result.video_url is not None
    clock.now += 31
    with pytest.raises(LinkExpiredError) as info:
        await client.download(result.video_url, tmp_path / "v.mp4", max_bytes=1 << 20)
    assert info.value.status == 403 and not info.value.retryable
    assert list(tmp_path.iterdir()) == []
    assert_no_secret(info.value)


@pytest.mark.parametrize("chunked", [False, True])
async def test_video_over_the_cap(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path, chunked: bool
) -> None:
    video = FAKE_MP4 + b"\x00" * 200_000
    result = await completed_task(client, fake, TaskScript(video=video, serve_chunked=chunked))
    assert result.video_url is not None
    with pytest.raises(VideoTooLargeError) as info:
        await client.download(result.video_url, tmp_path / "v.mp4", max_bytes=100_000)
    assert not info.value.retryable
    assert list(tmp_path.iterdir()) == []


async def test_download_errors(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    result = await completed_task(client, fake)
    assert result.video_url is not None
    fake.fail_next("download", status=503)
    with pytest.raises(DownloadError) as info:
        await client.download(result.video_url, tmp_path / "v.mp4", max_bytes=1 << 20)
    assert info.value.status == 503 and info.value.retryable
    fake.fail_next("download", status=400)
    with pytest.raises(DownloadError) as refused:
        await client.download(result.video_url, tmp_path / "v.mp4", max_bytes=1 << 20)
    assert refused.value.status == 400 and not refused.value.retryable, "asking again will not help"
    fake.slow_next("download", delay=1.0)
    fast = GrokClient(base_url=fake.base_url, api_key=API_KEY, connect_timeout=0.5)
    async with fast:
        with pytest.raises(DownloadTimeoutError) as timeout:
            await fast.download(result.video_url, tmp_path / "v.mp4", max_bytes=1 << 20, timeout=0.2)
    assert isinstance(timeout.value, GrokTimeoutError) and timeout.value.retryable
    assert str(timeout.value) == "the download took longer than 0.2 seconds"
    with pytest.raises(DownloadError):
        await client.download("file:///etc/passwd", tmp_path / "v.mp4", max_bytes=1 << 20)
    assert list(tmp_path.iterdir()) == []
    assert_no_secret(info.value)
    assert_no_secret(timeout.value)


# --------------------------------------------------------------------------------------------- video host

WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01" + bytes(5000)


async def completed_link(client: GrokClient, fake: FakeGrokAPI, script: TaskScript | None = None) -> str:
    result = await completed_task(client, fake, script)
    assert result.video_url is not None
    return result.video_url


async def test_trickling_host_fails_as_stalled(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    url = await completed_link(client, fake)
    task_id = next(iter(fake.tasks))
    fake.video_host_mode(task_id, "trickle", bytes_per_second=2048, interval=0.05)
    started = time.monotonic()
    with pytest.raises(DownloadStalledError) as info:
        await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 30, timeout=60, stall_seconds=0.5)
    assert str(info.value) == "the video host stopped sending (less than 64 KiB in 0.5 s)"
    assert isinstance(info.value, DownloadError) and info.value.retryable
    assert 0 < fake.served[task_id] < STALL_MIN_BYTES, "it did send, just too little"
    assert time.monotonic() - started < 10, "the stall window, not the 60 s download timeout"
    assert list(tmp_path.iterdir()) == [], "the partial file is removed"
    assert_no_secret(info.value)


async def test_slow_but_steady_host_is_not_a_stall(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path
) -> None:
    url = await completed_link(client, fake)
    task_id = next(iter(fake.tasks))
    fake.video_host_mode(task_id, "trickle", bytes_per_second=2 << 20, interval=0.02, total=300_000)
    dest = tmp_path / "v.mp4"
    assert await client.download(url, dest, max_bytes=1 << 20, stall_seconds=0.5) == 300_000
    assert dest.read_bytes() == FAKE_MP4 + bytes(300_000 - len(FAKE_MP4))


async def test_silent_host_fails_as_stalled(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    url = await completed_link(client, fake)
    task_id = next(iter(fake.tasks))
    fake.video_host_mode(task_id, "stall", head=1024)
    with pytest.raises(DownloadStalledError) as info:
        await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 20, timeout=60, stall_seconds=0.3)
    assert str(info.value) == "the video host stopped sending (less than 64 KiB in 0.3 s)"
    assert fake.served[task_id] == 1024 and list(tmp_path.iterdir()) == []
    fake.slow_next("download", delay=30)  # not even the headers
    with pytest.raises(DownloadStalledError):
        await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 20, timeout=60, stall_seconds=0.3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "content_type", "first_bytes"),
    [("html", "text/html; charset=utf-8", "3c 21 44 4f"), ("not_video", "video/mp4", "7b 22 65 72")],
)
async def test_a_body_that_is_not_a_video_is_refused_unread(
    client: GrokClient,
    fake: FakeGrokAPI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    content_type: str,
    first_bytes: str,
) -> None:
    url = await completed_link(client, fake) + "?X-Amz-Signature=s3cr3t-signature"
    task_id = next(iter(fake.tasks))
    size = 64 << 20
    fake.video_host_mode(task_id, mode, total=size)  # type: ignore[arg-type]
    with pytest.raises(NotAVideoError) as info:
        await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 30)
    assert str(info.value) == NOT_A_VIDEO == "the video service sent something that is not a video"
    assert isinstance(info.value, DownloadError) and not info.value.retryable
    assert info.value.status == 200
    assert fake.served[task_id] < size, "refused from its first bytes, not read to the end"
    assert list(tmp_path.iterdir()) == []
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "127.0.0.1" in line and "200" in line and content_type in line and first_bytes in line
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t" not in messages and "/cdn/" not in messages, "the host only, never the signed link"
    with pytest.raises(NotAVideoError):  # not "too large", which would post the link to the page
        await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 20)


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "binary/octet-stream", "video/quicktime"]
)
async def test_an_mp4_under_another_label_is_accepted(
    client: GrokClient, fake: FakeGrokAPI, tmp_path: Path, content_type: str
) -> None:
    url = await completed_link(client, fake)
    fake.video_host_mode(next(iter(fake.tasks)), "video", content_type=content_type)
    dest = tmp_path / "v.mp4"
    assert await client.download(url, dest, max_bytes=1 << 20) == len(FAKE_MP4)
    assert dest.read_bytes() == FAKE_MP4


async def test_webm_is_accepted(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    url = await completed_link(client, fake, TaskScript(video=WEBM))
    fake.video_host_mode(next(iter(fake.tasks)), "video", content_type="video/webm")
    dest = tmp_path / "v.webm"
    assert await client.download(url, dest, max_bytes=1 << 20) == len(WEBM)
    assert dest.read_bytes() == WEBM


async def test_endless_body_stops_at_the_cap(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    url = await completed_link(client, fake)
    task_id = next(iter(fake.tasks))
    fake.video_host_mode(task_id, "endless")
    with pytest.raises(VideoTooLargeError) as info:
        await client.download(url, tmp_path / "v.mp4", max_bytes=2 << 20, stall_seconds=5)
    assert str(info.value) == f"the video is over the {2 << 20}-byte cap" and not info.value.retryable
    assert list(tmp_path.iterdir()) == []


async def test_generated_videos_pass_the_check(client: GrokClient, fake: FakeGrokAPI, tmp_path: Path) -> None:
    url = await completed_link(client, fake, TaskScript(video_size=200_000))
    assert await client.download(url, tmp_path / "v.mp4", max_bytes=1 << 20) == 200_000
    assert FAKE_MP4[4:8] == b"ftyp" and has_video_signature(FAKE_MP4)


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        (None, False),
        ("video/mp4", False),
        ("Video/MP4; codecs=avc1", False),
        ("application/octet-stream", False),
        ("binary/octet-stream", False),
        ("application/force-download", False),
        ("text/html; charset=utf-8", True),
        ("text/plain", True),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/xml", True),
        ("image/png", True),
    ],
)
def test_content_types(content_type: str | None, refused: bool) -> None:
    assert is_clearly_not_video(content_type) is refused


@pytest.mark.parametrize(
    ("head", "video"),
    [
        (FAKE_MP4[:16], True),
        (b"\x00\x00\x00\x14ftypqt  ", True),
        (WEBM[:16], True),
        (b"", False),
        (b"<html><body>", False),
        (b"\x00" * 16, False),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", False),  # old QuickTime without ftyp: refused
    ],
)
def test_video_signatures(head: bytes, video: bool) -> None:
    assert has_video_signature(head) is video


# --------------------------------------------------------------------------------------------- errors


async def test_wrong_key(fake: FakeGrokAPI) -> None:
    async with GrokClient(base_url=fake.base_url, api_key="wrong-key") as c:
        with pytest.raises(AuthenticationError) as info:
            await c.create(MAX_BODY)
    assert info.value.status == 401
    assert fake.requests[-1].headers["Authorization"] == AUTH_WRONG
    assert "wrong-key" not in repr(fake.requests)


async def test_long_provider_message_is_trimmed_and_cleaned(client: GrokClient, fake: FakeGrokAPI) -> None:
    message = "prompt\x00 rejected:\n\t\u202e" + "x" * 3000
    fake.fail_next(
        "create", status=400, body={"error": {"message": message, "type": "invalid_request_error"}}
    )
    with pytest.raises(BadRequestError) as info:
        await created(client)
    provider = info.value.provider_message
    assert provider is not None and len(provider) <= MAX_PROVIDER_MESSAGE
    assert provider.startswith("prompt rejected: xxx") and provider.endswith("…")
    assert len(str(info.value)) < MAX_PROVIDER_MESSAGE + 100


async def test_key_echoed_by_the_provider_is_scrubbed(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.fail_next("create", status=401, body={"msg": f"Bearer {API_KEY} is not valid", "code": 401})
    with pytest.raises(AuthenticationError) as info:
        await created(client)
    assert info.value.provider_message == "Bearer *** is not valid"
    assert_no_secret(info.value)
    assert "***" in repr(client) and API_KEY not in repr(client)


@pytest.mark.parametrize(
    ("status", "body", "endpoint", "expected"),
    [
        (402, None, "create", InsufficientBalanceError),
        (
            403,
            {"error": {"message": "user quota is not enough", "code": "insufficient_user_quota"}},
            "create",
            InsufficientBalanceError,
        ),
        (403, None, "result", AuthenticationError),
        (422, None, "create", BadRequestError),
        (404, None, "create", UnavailableError),
        (500, None, "create", UnavailableError),
        (503, "<html><title>503 Service Temporarily Unavailable</title></html>", "result", UnavailableError),
        (408, None, "result", UnavailableError),
        (409, None, "create", UnavailableError),
        (302, "", "create", UnavailableError),
        (
            200,
            {"code": 1001, "msg": "Insufficient balance, please top up"},
            "create",
            InsufficientBalanceError,
        ),
        (200, {"code": "401", "message": "invalid token"}, "result", AuthenticationError),
        (200, {"code": 1002, "msg": "API key is invalid"}, "create", AuthenticationError),
        (200, {"code": 1003, "msg": "请求过于频繁"}, "result", RateLimitedError),
        (200, {"code": 1004, "msg": "parameter error"}, "create", BadRequestError),
        (200, {"code": 1004, "msg": "system busy"}, "result", UnavailableError),
        (200, {"code": 500, "msg": "internal error"}, "create", UnavailableError),
        (200, {"code": 1005, "msg": "task does not exist"}, "result", TaskNotFoundError),
        (200, {"error": "prompt is too long"}, "create", BadRequestError),
        (
            200,
            {"error": {"message": "no credit left", "type": "billing"}},
            "create",
            InsufficientBalanceError,
        ),
        (200, {"success": False, "message": "model offline"}, "create", BadRequestError),
    ],
)
async def test_status_and_envelope_mapping(
    client: GrokClient, fake: FakeGrokAPI, status: int, body: Any, endpoint: str, expected: type[GrokError]
) -> None:
    fake.fail_next(endpoint, status=status, body=body)  # type: ignore[arg-type]
    with pytest.raises(GrokStatusError) as info:
        if endpoint == "create":
            await created(client)
        else:
            await client.result("video_grok_1")
    assert type(info.value) is expected
    assert info.value.status == status
    assert_no_secret(info.value)


async def test_html_error_page_gives_its_title(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.fail_next(
        "create",
        status=502,
        body="<html><head><title>502 Bad Gateway</title></head></html>",
        headers={"Content-Type": "text/html"},
    )
    with pytest.raises(UnavailableError) as info:
        await created(client)
    assert info.value.provider_message == "502 Bad Gateway"


async def test_rate_limited_with_seconds_and_http_date(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.fail_next("result", status=429, headers={"retry-after": "2"})
    with pytest.raises(RateLimitedError) as info:
        await client.result("video_grok_1")
    assert info.value.retry_after == 2.0
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake.fail_next("create", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(RateLimitedError) as info:
        await created(client)
    assert info.value.retry_after is not None and 85 <= info.value.retry_after <= 90
    fake.fail_next("create", status=429, headers={"Retry-After": "9999999"})
    with pytest.raises(RateLimitedError) as info:
        await created(client)
    assert info.value.retry_after == MAX_RETRY_AFTER
    fake.fail_next("create", status=429)
    with pytest.raises(RateLimitedError) as info:
        await created(client)
    assert info.value.retry_after is None


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now=now) == 0.0
    for junk in (None, "", "soon", "nan"):
        assert parse_retry_after(junk) is None


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("create", "{not json"),
        ("result", "{not json"),
        ("create", ""),
        ("create", "[1, 2]"),
        ("create", {"object": "video", "status": "queued"}),
        ("create", {"id": "", "status": "queued"}),
        ("create", {"id": 42, "status": "queued"}),
        ("result", {"id": "video_grok_1"}),
        ("result", {"id": "video_grok_1", "status": 3}),
        ("result", {"id": "video_grok_1", "status": " \u200b"}),
        ("result", {"id": "video_grok_1", "status": "succeeded", "video_url": None}),
        ("result", {"id": "video_grok_1", "status": "completed", "video_url": None}),
        ("result", {"id": "video_grok_1", "status": "completed", "video_url": "ftp://x/y.mp4"}),
        ("result", {"id": "video_grok_1", "status": "completed", "video_url": "http://[::1"}),
        ("result", "[" * 100_000 + "]" * 100_000),
        ("result", "null"),
    ],
)
async def test_malformed_answers(client: GrokClient, fake: FakeGrokAPI, endpoint: str, body: Any) -> None:
    fake.fail_next(endpoint, status=200, body=body)  # type: ignore[arg-type]
    with pytest.raises(MalformedResponseError) as info:
        if endpoint == "create":
            await created(client)
        else:
            await client.result("video_grok_1")
    assert_no_secret(info.value)


async def test_unknown_fields_are_tolerated(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.fail_next(
        "result",
        status=200,
        body={
            "id": "video_grok_1",
            "object": "video",
            "status": "completed",
            "progress": 100,
            "created": "17",
            "video_url": "https://cdn.example.com/v.mp4",
            "actualDuration": "6.5",
            "extra": {"a": 1},
        },
    )
    result = await client.result("video_grok_1")
    assert (result.created, result.actual_duration, result.model) == (17, 6.5, None)


async def test_slow_answer_times_out(fake: FakeGrokAPI) -> None:
    fake.slow_next("result", delay=2.0)
    started = time.monotonic()
    async with GrokClient(base_url=fake.base_url, api_key=API_KEY, total_timeout=0.2) as c:
        with pytest.raises(GrokTimeoutError) as info:
            await c.result("video_grok_1")
    assert time.monotonic() - started < 1.0
    assert isinstance(info.value, GrokConnectionError)
    assert_no_secret(info.value)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with GrokClient(base_url=f"http://127.0.0.1:{port}/kyyReactApiServer", api_key=API_KEY) as c:
        with pytest.raises(GrokConnectionError) as info:
            await c.create(MAX_BODY)
    assert not isinstance(info.value, GrokTimeoutError)
    assert_no_secret(info.value)


async def test_no_chain_even_inside_an_except_block(client: GrokClient, fake: FakeGrokAPI) -> None:
    fake.fail_next("create", status=500)
    try:
        raise KeyError("caller's own")
    except KeyError:
        with pytest.raises(UnavailableError) as info:
            await created(client)
    assert info.value.__context__ is None  # not even the caller's own exception is attached


# --------------------------------------------------------------------------------------------- lifecycle


async def test_session_ownership(fake: FakeGrokAPI) -> None:
    async with aiohttp.ClientSession() as shared:
        c = GrokClient(base_url=fake.base_url, api_key=API_KEY, session=shared)
        await c.create(TEXT_BODY)
        await c.close()
        assert not shared.closed
    own = GrokClient(base_url=fake.base_url, api_key=API_KEY)
    await own.create(TEXT_BODY)
    await own.close()
    with pytest.raises(RuntimeError):
        await own.create(TEXT_BODY)


def test_constructor_rejects_bad_settings() -> None:
    for kwargs in (
        {"base_url": "ftp://x", "api_key": API_KEY},
        {"base_url": "https://x", "api_key": ""},
        {"base_url": "https://x", "api_key": "a b"},
        {"base_url": "https://x", "api_key": API_KEY, "total_timeout": 0},
    ):
        with pytest.raises(ValueError) as info:
            GrokClient(**kwargs)
        assert API_KEY not in str(info.value)


async def test_wait_for_requests_wakes_on_each_request(client: GrokClient, fake: FakeGrokAPI) -> None:
    task = await created(client)
    since = len(fake.requests)
    waiter = asyncio.create_task(
        fake.wait_for_requests(lambda r: r.endpoint == "result", count=2, since=since)
    )
    await client.result(task.id)
    assert not waiter.done()
    await client.result(task.id)
    assert len(await asyncio.wait_for(waiter, 1.0)) == 2
    with pytest.raises(TimeoutError):
        await fake.wait_for_requests(lambda r: r.endpoint == "download", timeout=0.05)


@given(st.text(max_size=2000))
def test_clean_text_properties(text: str) -> None:
    cleaned = clean_text(text + API_KEY + text, API_KEY)
    assert cleaned is not None and len(cleaned) <= MAX_PROVIDER_MESSAGE
    assert API_KEY not in cleaned
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in cleaned)


def test_clean_text_scrubs_a_key_split_by_invisible_characters() -> None:
    split = API_KEY[:5] + "\u200b" + API_KEY[5:]
    assert clean_text(f"echo {split}", API_KEY) == "echo ***"

"""Shrink a video to fit Discord's upload limit with ffmpeg (the binary shipped by imageio-ffmpeg).

ffmpeg is the bot's heaviest work: each run is niced (FFMPEG_NICENESS) so polling and posting keep the CPU,
and `Shrinker` lets at most SHRINK_CONCURRENCY runs go at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: Room left for the container's own overhead when choosing a bitrate.
SIZE_MARGIN = 0.90
AUDIO_BITRATE = 64_000
MIN_VIDEO_BITRATE = 100_000
TRANSCODE_TIMEOUT_SECONDS = 300.0
MAX_ATTEMPTS = 3
#: The longest one shrink can take (every attempt timing out), for the task's lease while it runs.
SHRINK_MAX_SECONDS = TRANSCODE_TIMEOUT_SECONDS * MAX_ATTEMPTS
#: ffmpeg's scheduling priority (nice value): below the bot's own, so a long shrink never starves it.
FFMPEG_NICENESS = 10


def ffmpeg_executable() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a dependency, but the bot must not crash without it
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None


def target_video_bitrate(max_bytes: int, duration_seconds: float) -> int:
    """Bits per second of video that fit `max_bytes` over `duration_seconds`, leaving room for audio."""
    budget = max_bytes * 8 * SIZE_MARGIN / max(duration_seconds, 1.0)
    return int(budget - AUDIO_BITRATE)


async def shrink_to_fit(source: Path, dest: Path, max_bytes: int, duration_seconds: float) -> bool:
    """Re-encode `source` into `dest` under `max_bytes`; False (and no `dest`) when it cannot be done.

    The encoder may overshoot its target on hard material (noise, fast motion), so a result that is still
    too big is retried at a bitrate scaled down by how much it overshot, a few times at most.
    """
    exe = ffmpeg_executable()
    bitrate = target_video_bitrate(max_bytes, duration_seconds)
    if exe is None:
        return False
    for _attempt in range(MAX_ATTEMPTS):
        if bitrate < MIN_VIDEO_BITRATE:
            break
        size = await _encode(exe, source, dest, bitrate)
        if size is None:
            break
        if size <= max_bytes:
            return True
        bitrate = int(bitrate * max_bytes / size * SIZE_MARGIN)
    dest.unlink(missing_ok=True)
    return False


class Shrinker:
    """Shrinks bounded to `concurrency` at once; each result appears under its name whole or not at all."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def shrink(self, source: Path, dest: Path, max_bytes: int, duration_seconds: float) -> bool:
        """Wait for a free slot, then shrink_to_fit into a temporary name and rename it to `dest`."""
        async with self._slots:
            partial = dest.with_name(f"{dest.stem}.part{dest.suffix}")  # ffmpeg picks the format by suffix
            if not await shrink_to_fit(source, partial, max_bytes, duration_seconds):
                return False
            partial.replace(dest)
            return True


async def _encode(exe: str, source: Path, dest: Path, bitrate: int) -> int | None:
    """One ffmpeg run at `bitrate`; the output's size, or None if ffmpeg failed."""
    # Fewer pixels for low bitrates: a smaller, sharper picture beats a blocky big one.
    scale = "scale=-2:'min(ih,480)'" if bitrate < 1_500_000 else "scale=-2:'min(ih,720)'"
    args = [
        exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
        "-vf", scale, "-c:v", "libx264", "-preset", "veryfast",
        "-b:v", str(bitrate), "-maxrate", str(bitrate), "-bufsize", str(bitrate),
        "-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-movflags", "+faststart", str(dest),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    # Set from outside, not in a preexec_fn: that is unsafe in a process with threads (aiosqlite has some).
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, proc.pid, FFMPEG_NICENESS)
    try:
        async with asyncio.timeout(TRANSCODE_TIMEOUT_SECONDS):
            _, stderr = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        dest.unlink(missing_ok=True)
        if isinstance(exc, asyncio.CancelledError):
            raise
        log.warning("shrinking %s took over %.0f s; giving up", source.name, TRANSCODE_TIMEOUT_SECONDS)
        return None
    if proc.returncode != 0 or not dest.exists():
        log.warning("shrinking %s failed (exit %s): %s", source.name, proc.returncode, stderr.decode()[-300:])
        dest.unlink(missing_ok=True)
        return None
    return dest.stat().st_size

"""Uploads and the CDN: stored files, attachment objects with signed, expiring urls, and downloads.

    emu.file_bytes(attachment_or_url_or_id) -> bytes;  emu.cdn_requests (paths of attachment downloads)

Attachment urls carry ``ex``/``is``/``hm`` like Discord's; a url is re-signed on every fetch and answers 404
once ``cdn_url_lifetime`` seconds of the emulator's clock have passed (None: never). Uploads above the upload
limit (world.py's ``upload_limit``) answer 413 / 40005.
"""

from __future__ import annotations

import dataclasses
import mimetypes
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .common import DiscordError, form_error, id_of, new_snowflake


@dataclasses.dataclass(eq=False)
class StoredFile:
    id: int
    filename: str
    content_type: str
    data: bytes
    path: str  # CDN path (without query)
    created_at: float
    ephemeral: bool = False


class FilesMixin:
    """Stored files, their attachment objects, and the CDN route that serves them; part of DiscordEmulator."""

    cdn_requests: list[str]  # paths of every attachment download

    def _init_files(self) -> None:
        self._files: dict[int, StoredFile] = {}
        self.cdn_requests = []

    def _attachment_payload(self, f: StoredFile, *, description: str | None = None) -> dict[str, Any]:
        query = ""
        if self.cdn_url_lifetime is not None:
            # signed urls are re-issued on every fetch, like Discord's; the clock offset counts as time passed
            expires = int(time.time() + self._clock_offset + self.cdn_url_lifetime)
            query = f"?ex={expires:x}&is={int(time.time()):x}&hm={secrets.token_hex(16)}&"
        payload: dict[str, Any] = {
            "id": str(f.id),
            "filename": f.filename,
            "size": len(f.data),
            "url": f"{self.base_url}{f.path}{query}",
            "proxy_url": f"{self.base_url}/media{f.path}{query}",
            "content_type": f.content_type,
            "flags": 0,
        }
        if f.ephemeral:
            payload["ephemeral"] = True
        if description:
            payload["description"] = description
        return payload

    def _store_file(
        self, filename: str, data: bytes, content_type: str | None, *, where: str, ephemeral: bool = False
    ) -> StoredFile:
        fid = new_snowflake()
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename.replace(" ", "_")) or "unknown"
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            ctype = mimetypes.guess_type(safe)[0] or "application/octet-stream"
        f = StoredFile(fid, safe, ctype, bytes(data), f"/{where}/{fid}/{quote(safe)}", self.now(), ephemeral)
        self._files[fid] = f
        return f

    def file_bytes(self, attachment: Any) -> bytes:
        """Bytes of an uploaded file: from an attachment dict, its url, or its id."""
        if isinstance(attachment, str) and "/" in attachment:
            m = re.search(r"/(?:ephemeral-)?attachments/\d+/(\d+)/", attachment)
            if not m:
                raise KeyError(f"not an emulator attachment url: {attachment}")
            return self._files[int(m.group(1))].data
        return self._files[id_of(attachment)].data

    def _attachments_from(
        self,
        body: dict[str, Any],
        files: list[tuple[str, bytes, str]],
        existing: list[dict[str, Any]] | None,
        *,
        where: str,
        ephemeral: bool,
    ) -> list[dict[str, Any]]:
        """Resolve body['attachments'] (kept existing ids + new files by index) into attachment objects."""
        new_files: dict[int, tuple[str, bytes, str]] = dict(enumerate(files))
        if "attachments" not in body or body.get("attachments") is None:
            kept = list(existing or [])
            return kept + [
                self._attachment_payload(self._store_file(fn, data, ct, where=where, ephemeral=ephemeral))
                for fn, data, ct in files
            ]
        out = []
        existing_by_id = {a["id"]: a for a in existing or []}
        used_indexes: set[int] = set()
        for spec in body["attachments"]:
            sid = str(spec.get("id"))
            if sid in existing_by_id:
                out.append(existing_by_id[sid])
            elif sid.isdigit() and int(sid) in new_files:
                idx = int(sid)
                used_indexes.add(idx)
                fn, data, ct = new_files[idx]
                stored = self._store_file(
                    spec.get("filename") or fn, data, ct, where=where, ephemeral=ephemeral
                )
                out.append(self._attachment_payload(stored, description=spec.get("description")))
            else:
                raise form_error("attachments", "ATTACHMENT_NOT_FOUND", f"Unknown attachment id {sid}")
        for idx, (fn, data, ct) in new_files.items():
            if idx not in used_indexes:
                out.append(
                    self._attachment_payload(self._store_file(fn, data, ct, where=where, ephemeral=ephemeral))
                )
        return out

    def _check_upload_limit(self, files: list[tuple[str, bytes, str]], limit: int) -> None:
        if sum(len(data) for _, data, _ in files) > limit:
            raise DiscordError(413, 40005, "Request entity too large")

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.cdn_requests.append(request.path)
        self._changed()
        try:
            f = self._files[int(request.match_info["b"])]
        except (KeyError, ValueError):
            return web.Response(status=404, text="Not Found")
        expires = request.query.get("ex")
        # the url carries a wall-clock expiry; the emulator clock offset moves it like time passing
        if (
            expires is not None
            and self.cdn_url_lifetime is not None
            and int(expires, 16) < time.time() + self._clock_offset
        ):
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=f.data, headers={"Content-Type": f.content_type})

"""Uploads and the CDN: stored files, attachment objects with signed, expiring urls, and downloads.

    emu.file_bytes(attachment_or_url_or_id) -> bytes;  emu.cdn_requests (paths of attachment downloads)
    emu.expire_cdn_urls()        every link signed so far answers 404 from now on, as a day later
    emu.refresh_requests         bodies of POST /attachments/refresh-urls (the REST record has them too)

Attachment urls carry ``ex`` (expiry, hex unix seconds), ``is`` (issued) and ``hm`` (the signature) like
Discord's. A message's attachments are re-signed each time it is read (REST or gateway), as Discord does; a
link answers 404 once ``cdn_url_lifetime`` seconds of the emulator's clock have passed (None: links are not
signed and never expire) or after ``expire_cdn_urls()``, and 403 when its ``ex``/``is``/``hm`` were not
issued together by this CDN (a hand-made or edited link). A deleted message's files (and files an edit
removed) are gone: 404, and the refresh endpoint leaves them out. ``POST /attachments/refresh-urls`` answers
fresh links for the attachments that still exist (see ``_r_refresh_urls``). Uploads above the upload limit
(world.py's ``upload_limit``) answer 413 / 40005.
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

#: An attachment link's path: /attachments/<channel>/<attachment id>/<name> (or ephemeral-attachments/<app>).
_ATTACHMENT_PATH = re.compile(r"/(?:media/)?((?:ephemeral-)?attachments/\d+/(\d+)/[^/?#]+)")
#: How many links one refresh request may carry (Discord's limit).
REFRESH_MAX_URLS = 50


@dataclasses.dataclass(eq=False)
class StoredFile:
    id: int
    filename: str
    content_type: str
    data: bytes
    path: str  # CDN path (without query)
    created_at: float
    ephemeral: bool = False
    deleted: bool = False  # its message was deleted, or an edit removed it: the CDN no longer serves it


class FilesMixin:
    """Stored files, their attachment objects, and the CDN route that serves them; part of DiscordEmulator."""

    cdn_requests: list[str]  # paths of every attachment download
    refresh_requests: list[list[str]]  # attachment_urls of every refresh request

    def _init_files(self) -> None:
        self._files: dict[int, StoredFile] = {}
        self.cdn_requests = []
        self.refresh_requests = []
        # hm -> (file id, ex, is) of every link issued: a link is served only as it was issued
        self._signatures: dict[str, tuple[int, str, str]] = {}
        self._expired_signatures: set[str] = set()  # expire_cdn_urls(): links issued before it

    def _signed_query(self, f: StoredFile) -> str:
        if self.cdn_url_lifetime is None:
            return ""
        # the clock offset counts as time passed, so advance_clock ages the links too
        expires = f"{int(time.time() + self._clock_offset + self.cdn_url_lifetime):x}"
        issued = f"{int(time.time() + self._clock_offset):x}"
        signature = secrets.token_hex(32)
        self._signatures[signature] = (f.id, expires, issued)
        return f"?ex={expires}&is={issued}&hm={signature}&"

    def expire_cdn_urls(self) -> None:
        """Every attachment link handed out so far answers 404 from now on, as once its ``ex`` has passed;
        the files stay, so reading their message again (or refreshing the links) gives links that work."""
        self._expired_signatures.update(self._signatures)
        self._changed()

    def _resign_attachments(self, data: dict[str, Any]) -> None:
        """Fresh links on a message's attachments (and its referenced message's), as Discord gives on every
        read. Attachments whose file is unknown are left as they are."""
        for message in (data, data.get("referenced_message") or {}):
            for attachment in message.get("attachments") or []:
                f = self._files.get(int(attachment.get("id", 0)))
                if f is not None and not f.deleted:
                    query = self._signed_query(f)
                    attachment["url"] = f"{self.base_url}{f.path}{query}"
                    attachment["proxy_url"] = f"{self.base_url}/media{f.path}{query}"

    def _drop_files(
        self, attachments: list[dict[str, Any]], kept: list[dict[str, Any]] | None = None
    ) -> None:
        """The files of `attachments` not in `kept` are gone from the CDN (a deleted message, an edit)."""
        keep = {str(a.get("id")) for a in kept or []}
        for attachment in attachments:
            f = self._files.get(int(attachment.get("id", 0)))
            if f is not None and str(f.id) not in keep:
                f.deleted = True

    def _attachment_payload(self, f: StoredFile, *, description: str | None = None) -> dict[str, Any]:
        query = self._signed_query(f)
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
        gone = web.Response(status=404, text="This content is no longer available.")
        if f.deleted:
            return gone
        expires, issued, signature = (request.query.get(k) for k in ("ex", "is", "hm"))
        if self.cdn_url_lifetime is not None and expires is not None:
            # the url carries a wall-clock expiry; the emulator clock offset moves it like time passing
            try:
                expired = int(expires, 16) < time.time() + self._clock_offset
            except ValueError:
                return web.Response(status=403, text="Forbidden")
            if signature is None or self._signatures.get(signature) != (f.id, expires, issued):
                return web.Response(status=403, text="Forbidden")  # not a link this CDN signed
            if expired or signature in self._expired_signatures:
                return gone
        return web.Response(body=f.data, headers={"Content-Type": f.content_type})

    async def _r_refresh_urls(self, rec: Any) -> Any:
        """POST /attachments/refresh-urls: fresh signed links for attachment links, as Discord documents it
        (Reference → "Signed Attachment CDN URLs": ``{"attachment_urls": [...]}`` → ``{"refreshed_urls":
        [{"original": ..., "refreshed": ...}]}``, at most 50 links). It is NOT in Discord's OpenAPI description,
        so rest.py serves it as a listed exception and this handler checks the request's shape itself. A link
        whose file is unknown or gone (its message deleted) is left out of the answer."""
        body = rec.json
        urls = body.get("attachment_urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise form_error("attachment_urls", "BASE_TYPE_REQUIRED", "This field is required")
        if not 1 <= len(urls) <= REFRESH_MAX_URLS:
            raise form_error(
                "attachment_urls",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {REFRESH_MAX_URLS} in length.",
            )
        self.refresh_requests.append(list(urls))
        refreshed = []
        for url in urls:
            m = _ATTACHMENT_PATH.search(url.split("?", 1)[0])
            f = self._files.get(int(m.group(2))) if m else None
            if f is None or f.deleted or f.path != "/" + m.group(1):  # type: ignore[union-attr]
                continue
            refreshed.append(
                {"original": url, "refreshed": f"{self.base_url}{f.path}{self._signed_query(f)}"}
            )
        return {"refreshed_urls": refreshed}

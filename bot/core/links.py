"""Video links that carry the API key: kept out of the database and out of Discord.

Some providers sign their video links with the caller's key (`…/video.mp4?api_key=…`). The client seals
such a link as soon as it arrives (the key replaced by KEY_MARK), so the stored row, the logs and anything
shown hold no secret; only the download unseals it. A link posted for members (a video too large to
upload) is the sealed link without the query parameters that carried the key, or nothing at all when the
key sits anywhere else in it.
"""

from __future__ import annotations

import urllib.parse

#: What stands for the key in a sealed link. Plain URL-safe characters, so no re-quoting changes it.
KEY_MARK = "GROK-API-KEY-REMOVED"


def _forms(key: str) -> list[tuple[str, str]]:
    """Each way the key may be written in a link, with the mark that stands for it (longest mark first,
    so unsealing never splits one)."""
    return [
        (urllib.parse.quote_plus(key), f"{KEY_MARK}-P"),
        (urllib.parse.quote(key, safe=""), f"{KEY_MARK}-Q"),
        (key, KEY_MARK),
    ]


def seal_link(url: str, key: str) -> str:
    """`url` with the key (as given or percent-encoded) replaced by a mark; unseal_link undoes it exactly."""
    for form, mark in _forms(key) if key else ():
        url = url.replace(form, mark)
    return url


def unseal_link(url: str, key: str) -> str:
    """The link as the provider sent it, for the download only."""
    for form, mark in _forms(key) if key else ():
        url = url.replace(mark, form)
    return url


def public_link(url: str | None) -> str | None:
    """A link members may see: without the query parameters that carried the key; None when the key is
    anywhere else (the path, the host, a fragment) and the link cannot be shown without it."""
    if not url or KEY_MARK not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    kept = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if KEY_MARK not in name and KEY_MARK not in value
    ]
    shown = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept)))
    return None if KEY_MARK in shown else shown

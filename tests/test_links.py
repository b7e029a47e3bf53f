"""Links that carry the API key: sealed before they are stored, unsealed only to download, and shown to
members without the key (pure code)."""

from __future__ import annotations

import pytest

from bot.core.links import KEY_MARK, public_link, seal_link, unseal_link

KEY = "xai-abcdef0123456789/+="


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        (f"https://cdn.example/v.mp4?api_key={KEY}&sig=1", "https://cdn.example/v.mp4?sig=1"),
        (f"https://cdn.example/v.mp4?sig=1&token=Bearer%20{KEY}", "https://cdn.example/v.mp4?sig=1"),
        ("https://cdn.example/v.mp4?api_key=xai-abcdef0123456789%2F%2B%3D", "https://cdn.example/v.mp4"),
        ("https://cdn.example/v.mp4?sig=1", "https://cdn.example/v.mp4?sig=1"),
        (f"https://cdn.example/{KEY}/v.mp4", None),
        (f"https://cdn.example/v.mp4#{KEY}", None),
    ],
)
def test_the_key_never_reaches_a_member(link: str, shown: str | None) -> None:
    sealed = seal_link(link, KEY)
    assert KEY not in sealed and "abcdef0123456789" not in sealed
    assert public_link(sealed) == shown
    assert unseal_link(sealed, KEY) == link


def test_a_link_without_the_key_is_left_byte_for_byte() -> None:
    signed = "https://cdn.example/v.mp4?X-Amz-Signature=ab%2Fcd&Expires=1"
    assert seal_link(signed, KEY) == signed
    assert public_link(signed) == signed
    assert KEY_MARK not in signed

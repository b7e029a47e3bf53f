"""End to end: the catalogue as loaded from MODELS_FILE drives every surface of the real bot — /video's registered
schema, its duration suggestions, the Animate form, reply mode's flags and messages — and what reaches the API."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartBot
from tests.fakes import grok_api as provider
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import PNG, bot_messages

GROK_VIDEO_4 = """
[models.grok_video4]
label = "Grok Video 4"
duration_min = 6
duration_max = 15
aspect_ratios = ["16:9", "9:16"]
resolutions = ["720p", "1080p"]
default_resolution = "1080p"
max_images = 3
public_urls_only = true
billing = "per_second"
"""
WITHOUT_GROK_VIDEO_3 = """
[models.grok_video3]
enabled = false
"""
ENABLED_WITHOUT_3 = ["grok_video3_pro", "grok_video3_max", "grok_video3_stable"]
LISTING_WITHOUT_3 = "Choose one of: grok_video3_pro, grok_video3_max or grok_video3_stable."


@pytest.fixture(autouse=True)
def _keep_tasks_queued(grok_api: FakeGrokAPI) -> None:
    """Nothing here is about delivery: tasks stay queued, so no poll, download or upload runs behind a test."""
    grok_api.default_script = TaskScript(complete_after=None)


async def start_with_models(start_bot: StartBot, tmp_path: Path, toml: str) -> Any:
    models = tmp_path / "models.toml"
    models.write_text(toml, encoding="utf-8")
    return await start_bot(MODELS_FILE=str(models))


def video_option(emu: DiscordEmulator, name: str) -> dict[str, Any]:
    """/video's option as Discord stored it when the bot registered its commands."""
    options = emu.find_command("video", guild=emu.guild)["options"]
    return next(o for o in options if o["name"] == name)


def model_choices(emu: DiscordEmulator) -> list[str]:
    return [c["value"] for c in video_option(emu, "model")["choices"]]


def modal_component(modal: dict[str, Any], custom_id: str) -> dict[str, Any]:
    pending = list(modal["components"])
    while pending:
        component = pending.pop(0)
        if component.get("custom_id") == custom_id:
            return component
        pending.extend(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            pending.append(component["component"])
    raise LookupError(custom_id)


def creates(grok_api: FakeGrokAPI) -> list[dict[str, Any]]:
    return [r.json for r in grok_api.requests if r.endpoint == "create"]


async def mention_with_image(emu: DiscordEmulator, text: str) -> dict[str, Any]:
    return await emu.post_message(
        emu.channel, emu.default_user, f"<@{emu.bot_user.id}> {text}",
        attachments=[("cat.png", PNG, "image/png")], mentions=[emu.bot_user],
    )  # fmt: skip


async def reply_refusal(emu: DiscordEmulator, to: dict[str, Any]) -> str:
    """Reply mode has no private answer: a refusal is the bot's reply to the member's message."""
    answer = await emu.wait_for_message(
        emu.channel,
        lambda m: (
            int(m["author"]["id"]) == emu.bot_user.id
            and (m.get("message_reference") or {}).get("message_id") == to["id"]
        ),
    )
    return message_text(answer)


# ---- (a) a model added in MODELS_FILE ---------------------------------------------------------------------


async def test_an_added_model_is_offered_and_reaches_the_api(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The provider has introduced the model (the case models.example.toml describes): its stand-in knows it too.
    rules = dataclasses.replace(
        provider.MODELS["grok_video3_max"], durations=frozenset(range(6, 16)),
        aspect_ratios=frozenset({"16:9", "9:16"}), resolutions=frozenset({"720p", "1080p"}), max_images=3,
    )  # fmt: skip
    monkeypatch.setitem(provider.MODELS, "grok_video4", rules)
    await start_with_models(start_bot, tmp_path, GROK_VIDEO_4)

    assert model_choices(emu) == ["grok_video3", "grok_video3_pro", "grok_video3_max", "grok_video3_stable",
                                  "grok_video4"]  # fmt: skip
    [choice] = [c for c in video_option(emu, "model")["choices"] if c["value"] == "grok_video4"]
    assert choice["name"] == "Grok Video 4 (6–15 s, 2 ratios, 720p/1080p, up to 3 image links)"
    assert [c["value"] for c in video_option(emu, "resolution")["choices"]] == ["480p", "720p", "1080p"]

    suggested = await emu.autocomplete(
        "video", {"prompt": "x", "model": "grok_video4", "duration": ""}, focused="duration"
    )
    assert [c["value"] for c in suggested] == list(range(6, 16))

    h = await emu.slash_command("video", {"prompt": "a comet", "model": "grok_video4"})
    await h.wait_text("queued")
    h2 = await emu.slash_command(
        "video", {"prompt": "a comet, closer", "model": "grok_video4", "duration": 15, "aspect_ratio": "9:16"}
    )
    await h2.wait_text("queued")
    assert h.ephemeral and h2.ephemeral
    assert creates(grok_api) == [
        {"model": "grok_video4", "prompt": "a comet", "duration": 10, "aspect_ratio": "16:9",
         "resolution": "1080p"},
        {"model": "grok_video4", "prompt": "a comet, closer", "duration": 15, "aspect_ratio": "9:16",
         "resolution": "1080p"},
    ]  # fmt: skip

    # Its own limits are checked before any call: a ratio another model takes is refused for this one.
    h3 = await emu.slash_command("video", {"prompt": "square", "model": "grok_video4", "aspect_ratio": "1:1"})
    text = await h3.wait_text("doesn't work")
    assert h3.ephemeral and "grok_video4 makes 16:9 or 9:16 videos (you asked for “1:1”)." in text
    assert "Grok Video 4: 6–15 s" in text
    assert len(creates(grok_api)) == 2


# ---- (b) a model disabled in MODELS_FILE ----------------------------------------------------------------------


async def test_a_disabled_model_is_not_offered_is_refused_if_forged_and_the_default_moves_on(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    bot = await start_with_models(start_bot, tmp_path, WITHOUT_GROK_VIDEO_3)
    assert bot.catalogue.default_model == "grok_video3_pro"
    assert model_choices(emu) == ENABLED_WITHOUT_3
    assert video_option(emu, "model")["description"] == "Which Grok model (default: Grok Video 3 Pro)"

    # A client that skips Discord's choice check can still send the disabled model: the bot refuses it.
    forged = await emu.slash_command("video", {"prompt": "a cat", "model": "grok_video3"}, validate=False)
    text = await forged.wait_text("doesn't work")
    assert forged.ephemeral
    assert f"There is no model called “grok_video3”. {LISTING_WITHOUT_3}" in text
    assert creates(grok_api) == []

    # No model chosen: the new default, a fixed-length model, so no duration is sent.
    h = await emu.slash_command("video", {"prompt": "a lighthouse"})
    await h.wait_text("queued")
    assert h.ephemeral
    assert creates(grok_api) == [
        {"model": "grok_video3_pro", "prompt": "a lighthouse", "aspect_ratio": "16:9", "resolution": "720p"}
    ]


async def test_duration_suggestions_use_the_new_default_without_errors(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(start_bot, tmp_path, WITHOUT_GROK_VIDEO_3)
    expected = [{"name": "10 seconds (always, grok_video3_pro)", "value": 10}]
    assert await emu.autocomplete("video", {"prompt": "x"}, focused="duration") == expected
    named_disabled = {"prompt": "x", "model": "grok_video3", "duration": "2"}
    assert await emu.autocomplete("video", named_disabled, focused="duration") == expected
    max_choices = await emu.autocomplete(
        "video", {"prompt": "x", "model": "grok_video3_max", "duration": "1"}, focused="duration"
    )
    assert [c["value"] for c in max_choices] == [10, 12, 16]
    assert grok_api.requests == []
    assert not [i for i in emu.interactions if i.callbacks and not i.callbacks[0].accepted]


async def test_the_animate_form_offers_only_enabled_models_with_the_new_default_chosen(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(start_bot, tmp_path, WITHOUT_GROK_VIDEO_3)
    poster = emu.add_user("painter")
    emu.add_member(emu.guild, poster)
    target = await emu.post_message(
        emu.channel, poster, "my drawing", attachments=[("a.png", PNG, "image/png")]
    )
    h = await emu.message_context_menu("Animate with Grok", target)
    modal = await h.wait_for(lambda handle: handle.modal)
    select = modal_component(modal, "model")
    assert [o["value"] for o in select["options"]] == ENABLED_WITHOUT_3
    assert [o["value"] for o in select["options"] if o.get("default")] == ["grok_video3_pro"]
    assert modal_component(modal, "duration")["placeholder"].startswith("10 ")

    submitted = await emu.submit_modal(h, {"prompt": "it starts to rain"})  # the preselected model
    await submitted.wait_text("queued")
    assert submitted.ephemeral
    [body] = creates(grok_api)
    assert body["model"] == "grok_video3_pro" and "duration" not in body
    assert body["prompt"] == "it starts to rain" and len(body["image_urls"]) == 1


async def test_reply_mode_without_a_model_uses_the_new_default(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(start_bot, tmp_path, WITHOUT_GROK_VIDEO_3)
    asked = await mention_with_image(emu, "the cat waves hello")
    await grok_api.wait_for_requests(lambda r: r.endpoint == "create")
    [body] = creates(grok_api)
    assert body["model"] == "grok_video3_pro" and "duration" not in body
    assert body["prompt"] == "the cat waves hello"
    status = await emu.wait_for_message(
        emu.channel, lambda m: bool(m.get("embeds")) and m.get("message_reference")
    )
    assert status["message_reference"]["message_id"] == asked["id"], "the status answers the member's message"
    [model_field] = [f for f in status["embeds"][0]["fields"] if f["name"] == "Model"]
    assert model_field["value"] == "grok_video3_pro"


# ---- (c) the registered schema follows the catalogue --------------------------------------------------------


async def test_the_registered_duration_range_and_image_slots_follow_the_catalogue(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(
        start_bot, tmp_path,
        "[models.grok_video3]\nduration_min = 4\nduration_max = 40\n\n[models.grok_video3_stable]\nmax_images = 9\n",
    )  # fmt: skip
    duration = video_option(emu, "duration")
    assert (duration["type"], duration["min_value"], duration["max_value"]) == (4, 4, 40)
    assert duration.get("autocomplete") is True
    images = [o["name"] for o in emu.find_command("video", guild=emu.guild)["options"] if o["type"] == 11]
    assert images == ["image", *(f"image{n}" for n in range(2, 10))]
    # Discord now lets 40 through and stops 41; the bot's own check still applies per model.
    with pytest.raises(ValueError, match="outside"):
        await emu.slash_command("video", {"prompt": "long", "duration": 41})
    h = await emu.slash_command("video", {"prompt": "long", "model": "grok_video3_max", "duration": 40})
    text = await h.wait_text("doesn't work")
    assert h.ephemeral and "grok_video3_max takes 6, 10, 12, 16, 20 or 30 seconds (you asked for 40)." in text
    assert creates(grok_api) == []


SMALLER = """
[models.grok_video3]
duration_min = 8
duration_max = 20
max_images = 2

[models.grok_video3_pro]
max_images = 0

[models.grok_video3_max]
durations = [10, 12, 16, 20]
max_images = 3

[models.grok_video3_stable]
durations = [10]
send_duration = false
max_images = 1
"""


async def test_a_smaller_catalogue_narrows_the_range_and_removes_image_slots(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(start_bot, tmp_path, SMALLER)
    duration = video_option(emu, "duration")
    assert (duration["min_value"], duration["max_value"]) == (8, 20)
    images = [o["name"] for o in emu.find_command("video", guild=emu.guild)["options"] if o["type"] == 11]
    assert images == ["image", "image2", "image3"], "grok_video3_max's 3 is now the largest"
    files = [(f"i{n}.png", PNG, "image/png") for n in range(4)]
    with pytest.raises(ValueError, match="no more ATTACHMENT options"):
        await emu.slash_command("video", {"prompt": "a cat"}, attachments=files)
    with pytest.raises(ValueError, match="outside"):
        await emu.slash_command("video", {"prompt": "a cat", "duration": 6})
    h = await emu.slash_command("video", {"prompt": "a cat"}, attachments=files[:3])
    text = await h.wait_text("doesn't work")
    assert h.ephemeral and "grok_video3 takes up to 2 images (you gave 3)." in text
    assert creates(grok_api) == []


# ---- (d) reply-mode messages name values from the loaded catalogue ----------------------------------------------


async def test_reply_mode_messages_suggest_values_from_the_loaded_catalogue(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await start_with_models(start_bot, tmp_path, WITHOUT_GROK_VIDEO_3)
    asked = await mention_with_image(emu, "the cat waves --model")
    text = await reply_refusal(emu, asked)
    assert "--model needs a value, e.g. --model grok_video3_pro." in text
    assert "grok_video3 " not in text and "grok_video3." not in text

    asked = await mention_with_image(emu, "the cat waves --ar --res")
    text = await reply_refusal(emu, asked)
    assert "--ar needs a value, e.g. --ar 16:9." in text, (
        "the default model's own ratio, not grok_video3's 2:3"
    )
    assert "--res needs a value, e.g. --res 720p." in text

    asked = await mention_with_image(emu, "the cat waves --model grok_video3")
    text = await reply_refusal(emu, asked)
    assert f"There is no model called “grok_video3”. {LISTING_WITHOUT_3}" in text

    assert creates(grok_api) == []
    assert all(m.get("message_reference") for m in bot_messages(emu, emu.channel)), "only replies, no status"


async def test_video_and_the_menu_are_registered_for_servers_only(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    """`contexts: [0]` (guild) is what Discord reads today; `dm_permission` is the legacy field."""
    await start_bot()
    for name, ctype in (("video", 1), ("Animate with Grok", 3)):  # 3: a message context menu
        command = emu.find_command(name, ctype=ctype, guild=emu.guild)
        assert command.get("contexts") == [0], (name, command.get("contexts"))

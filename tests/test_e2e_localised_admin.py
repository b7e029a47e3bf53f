"""End to end: /videoadmin answers in the member's language (issue "Speak the member's language", part 2).

The real bot, the loopback Discord (whose interactions carry the member's `locale`) and Grok API, a real
SQLite file. Texts are asserted as the catalogues write them, so a missing or dropped translation (English
shown instead) fails; numbers, durations and money as Babel's CLDR data writes them for the locale. The
English answers are tests/test_e2e_admin.py's, which runs in en-US unchanged.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

from bot.i18n import formats
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_e2e_admin import guild_row, start_admin_bot, video

#: Every /videoadmin subcommand, with the options it needs.
SUBCOMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("channel-allow", {"channel": None}), ("channel-remove", {"channel": None}), ("channels-clear", {}),
    ("role", {}), ("limits", {"max_active": 1}), ("models", {"allow": "all"}), ("pause", {}), ("resume", {}),
    ("blocked-words add", {"words": "cat"}), ("blocked-words remove", {"words": "cat"}),
    ("blocked-words list", {}), ("age-restricted-only", {"enabled": True}), ("config", {}), ("usage", {}),
]  # fmt: skip


async def admin_in(
    emu: DiscordEmulator, locale: str, sub: str, options: dict[str, Any] | None = None, *, user: Any = None
) -> InteractionHandle:
    """/videoadmin <sub> as the guild owner (unless told) whose Discord speaks `locale`; the private answer."""
    handle = await emu.slash_command(
        "videoadmin", options or {}, user=user or emu.owner, subcommand=sub, locale=locale
    )
    await handle.wait_for(lambda h: bool(h.text()))
    assert handle.ephemeral, f"/videoadmin {sub} answered publicly"
    return handle


async def test_japanese_config_and_limits(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_admin_bot(start_bot, MAX_IN_FLIGHT="1200")
    done = (
        await admin_in(emu, "ja", "limits", {"max_active": 3, "cooldown": 5400, "member_daily": 1500})
    ).text()
    cooldown = formats.format_duration(5400, "ja")
    assert cooldown == "1 時間30 分", "CLDR's Japanese short units and list pattern"
    for expected in (
        "制限を更新しました",
        "メンバーごとの同時進行中の動画：**3**（サーバー設定）",
        f"メンバーの動画どうしの待ち時間：**{cooldown}**（サーバー設定）",
        "メンバーごとの1日あたりの動画秒数：**1,500 秒**（サーバー設定）",
        "サーバー全体の1日あたりの動画秒数：**制限なし**（デフォルト）",
        "Grok で同時に作成できる動画：**全サーバーで 1,200 本**（デフォルト、MAX_IN_FLIGHT）",
        "管理者には制限がかかりません。",
    ):
        assert expected in done, (expected, done)
    assert "Videos" not in done and "limit" not in done, done

    shown = (await admin_in(emu, "ja", "config")).text()
    for expected in (
        "このサーバーの動画設定",
        "▶️ メンバーは動画を作れます",
        "チャンネル\nすべてのチャンネル",
        "必要なロール\nなし（全メンバー）",
        "禁止ワード：なし\n年齢制限チャンネルのみ：オフ",
        f"メンバーの動画どうしの待ち時間：**{cooldown}**（サーバー設定）",
        "待機中：このサーバー **0** 件、列全体で **0** 件",
        "（MAX_IN_FLIGHT：1,200）",
        "すべて：grok_video3",
        "料金（USD、ボットのオーナーが設定）\ngrok_video3: 未設定",
        "管理者（サーバー管理）には制限や条件がかかりません。",
    ):
        assert expected in shown, (expected, shown)
    assert "Video settings" not in shown and "every channel" not in shown, shown


def copy_task(db_path: str, guild_id: int, rows: list[tuple[int, str]]) -> None:
    """Add finished tasks like the server's first one, for each (member, model): a busy month in a moment."""
    with sqlite3.connect(db_path) as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(tasks)") if c[1] not in ("id", "api_id")]
        chosen = ", ".join("?" if c in ("requester_id", "model") else c for c in columns)
        [first] = db.execute("SELECT MIN(id) FROM tasks WHERE guild_id = ?", (guild_id,)).fetchone()
        for member, model in rows:
            params = [
                member if c == "requester_id" else model for c in columns if c in ("requester_id", "model")
            ]
            db.execute(f"INSERT INTO tasks ({', '.join(columns)}) SELECT {chosen} FROM tasks WHERE id = ?",
                       (*params, first))  # fmt: skip


async def test_german_usage_report_formats_money_and_fits_discord(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_admin_bot(start_bot, PRICES="grok_video3=0.05,grok_video3_pro=0.5")
    empty = (await admin_in(emu, "de", "usage", {"period": "7d"})).text()
    assert (
        "Nutzung der letzten 7 Tage" in empty
        and "In den letzten 7 Tagen wurden keine Videos erstellt." in empty
    )

    assert "queued" in await video(emu, {"prompt": "ein Boot", "model": "grok_video3_pro"})
    report = (await admin_in(emu, "de", "usage")).text()
    half = formats.format_money(0.5, "USD", "de")
    assert half == "0,50\xa0$", "Babel's German dollars"
    ten = formats.format_duration(10, "de")  # "10 Sek."
    alice = emu.default_user.id
    for expected in (
        "📊 Nutzung heute (seit 00:00 UTC)",
        f"<@{alice}> · 1 Video · ",
        f"grok_video3_pro: 1 Video · {ten} · {half}",
        f"Nach Modell\ngrok_video3_pro: 1 Video · {ten} · {half}",
        f"Gesamt\n1 Video · {ten} · {half}",
        "Die Kosten sind Schätzungen anhand der Preise des Betreibers; abgelehnte Anfragen zählen nicht.",
    ):
        assert expected in report, (expected, report)
    assert "USD" not in report and "0.50" not in report, report

    # A busy server: 40 members, each with every model plus two the owner has since removed (no estimate).
    models = [
        *bot.catalogue.models,
        "grok_video2_retired_long_model_name",
        "grok_video1_retired_long_model_name",
    ]
    members = [(10_000 + n, model) for n in range(40) for model in models]
    copy_task(str(bot.settings.database_path), emu.guild.id, members * 3)
    for locale, more, unpriced in (
        ("de", "…und 26 weitere Mitglieder", "Für grok_video1_retired_long_model_name"),
        ("ja", "…ほか 26 人のメンバー", "grok_video1_retired_long_model_name, grok_video2_retired"),
    ):
        long = await admin_in(emu, locale, "usage", {"period": "30d"})
        text = long.text()  # answered at all: the emulator refuses an embed over Discord's limits
        assert more in text and unpriced in text, text
        listed = {int(m) for m in re.findall(r"<@(\d+)>", text)}
        assert len(listed) == 15 and listed <= {m for m, _ in members}, "the 15 heaviest members"


async def test_chinese_member_is_refused_in_chinese_everywhere(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_admin_bot(start_bot)
    # The cog's interaction_check guards every subcommand; the list must still be all of them, so a new one
    # is tested too.
    registered = {" ".join(name.split()[1:]) for name in _qualified(bot.tree.get_command("videoadmin"))}
    assert registered == {sub for sub, _ in SUBCOMMANDS}, registered ^ {sub for sub, _ in SUBCOMMANDS}
    answers = []
    for sub, options in SUBCOMMANDS:
        options = {k: (emu.channel if v is None else v) for k, v in options.items()}
        answers.append((sub, await admin_in(emu, "zh-CN", sub, options, user=emu.default_user)))
    english = await admin_in(emu, "en-US", "pause", user=emu.default_user)
    await asyncio.sleep(0.2)  # room for a second answer (e.g. the tree's own refusal), which must not come
    for sub, refused in answers:
        assert refused.texts() == [
            f"无权操作\n• /videoadmin {sub} 需要此服务器上的“管理服务器”权限。\n\n请联系服务器的管理人员。"
        ], (sub, refused.texts())
    assert english.texts() == [
        "Not allowed\n• /videoadmin pause needs the Manage Server permission on this server.\n\n"
        "Ask someone who manages the server."
    ], english.texts()
    assert guild_row(str(bot.settings.database_path), emu.guild.id) is None, "a refusal changes nothing"
    assert grok_api.creates == []


def _qualified(group: Any) -> list[str]:
    """Every leaf command's qualified name under `group` ("videoadmin blocked-words add", …)."""
    return [
        command.qualified_name for command in group.walk_commands() if not hasattr(command, "walk_commands")
    ]

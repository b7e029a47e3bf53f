"""`python -m bot`: read the settings, then run the bot until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

from bot.core.config import ConfigError, load_settings, setup_logging


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(settings)
    from bot.discord.app import run  # imported late: a settings error should not wait for discord.py to load

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())

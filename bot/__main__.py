"""`python -m bot`: read the settings and MODELS_FILE, then run the bot as a service (bot/discord/runner.py):
it waits out a Discord it cannot reach, and stops within seconds on SIGINT/SIGTERM.

`python -m bot migrate --to postgresql://...` copies the SQLite database into PostgreSQL (bot/migrate.py)."""

from __future__ import annotations

import logging
import sys

from bot.core.config import ConfigError, load_config
from bot.core.logs import setup_logging


def main() -> int:
    if sys.argv[1:2] == ["migrate"]:
        from bot.migrate import main as migrate

        return migrate(sys.argv[2:])
    try:
        config = load_config()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(config.settings)
    for warning in config.warnings:
        logging.getLogger("bot.core.config").warning("%s", warning)
    from bot.discord.runner import (
        run,  # imported late: a settings error should not wait for discord.py to load
    )

    return run(config.settings, config.catalogue)


if __name__ == "__main__":
    sys.exit(main())

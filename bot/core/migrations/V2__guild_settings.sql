-- Per-server choices made by admins with /videoadmin; NULL means "use the owner's default setting".
CREATE TABLE guild_settings (
    guild_id             INTEGER PRIMARY KEY,
    max_active           INTEGER,
    cooldown_seconds     REAL,
    member_daily_seconds INTEGER,
    server_daily_seconds INTEGER,
    allowed_models       TEXT,             -- JSON list; NULL = every model in the catalogue
    allowed_channels     TEXT NOT NULL DEFAULT '[]',  -- JSON list of channel ids; empty = every channel
    required_role_id     INTEGER,
    paused               INTEGER NOT NULL DEFAULT 0,
    updated_at           REAL    NOT NULL
);

-- Usage and quota queries: a member's or a server's tasks since a moment.
CREATE INDEX tasks_guild_requester ON tasks (guild_id, requester_id, created_at);

-- PostgreSQL's version 2 (SQLite's: bot/core/migrations/V2__guild_settings.sql).
-- Per-server choices made by admins with /videoadmin; NULL means "use the owner's default setting".
CREATE TABLE guild_settings (
    guild_id             bigint PRIMARY KEY,
    max_active           integer,
    cooldown_seconds     double precision,
    member_daily_seconds integer,
    server_daily_seconds integer,
    allowed_models       text,             -- JSON list; NULL = every model in the catalogue
    allowed_channels     text NOT NULL DEFAULT '[]',  -- JSON list of channel ids; empty = every channel
    required_role_id     bigint,
    paused               integer NOT NULL DEFAULT 0,
    updated_at           double precision NOT NULL
);

-- Usage and quota queries: a member's or a server's tasks since a moment.
CREATE INDEX tasks_guild_requester ON tasks (guild_id, requester_id, created_at);

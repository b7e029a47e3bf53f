-- One row per video a member asked for: everything the poller needs to resume after a restart.
CREATE TABLE tasks (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    api_id               TEXT UNIQUE,              -- the provider's task id, once create answered
    state                TEXT    NOT NULL,         -- see bot/core/store.py: State
    outcome              TEXT,                     -- what was posted when delivered: video | link | failed | expired | lost
    source               TEXT    NOT NULL,         -- slash | context | reply | regenerate
    guild_id             INTEGER,
    channel_id           INTEGER NOT NULL,
    requester_id         INTEGER NOT NULL,
    origin_message_id    INTEGER,                  -- the message whose images were used (reply / context menu)
    status_message_id    INTEGER,                  -- the channel message the bot edits while the video is made
    model                TEXT    NOT NULL,
    prompt               TEXT    NOT NULL,
    duration             INTEGER,
    aspect_ratio         TEXT    NOT NULL,
    resolution           TEXT    NOT NULL,
    image_urls           TEXT    NOT NULL DEFAULT '[]',  -- JSON list
    billed_seconds       INTEGER NOT NULL,         -- video-seconds this request counts for (quotas, cost)
    provider_status      TEXT,                     -- last status the provider reported
    video_url            TEXT,                     -- temporary link, kept so a download retried after a crash can try
    video_path           TEXT,
    video_bytes          INTEGER,
    actual_duration      REAL,
    failure_reason       TEXT,                     -- the provider's words (failed) or ours (expired, lost)
    last_error           TEXT,                     -- last transient error, for logs and /videos status
    poll_attempts        INTEGER NOT NULL DEFAULT 0,
    error_streak         INTEGER NOT NULL DEFAULT 0,  -- consecutive transient errors (backoff)
    delivery_attempts    INTEGER NOT NULL DEFAULT 0,
    delivery_started_at  REAL,                     -- set before the first post: a later attempt looks for that post first
    delivered_message_id INTEGER,
    delivered_channel_id INTEGER,
    notify_requester     INTEGER NOT NULL DEFAULT 0,  -- undeliverable: tell the member on their next command
    created_at           REAL    NOT NULL,
    updated_at           REAL    NOT NULL,
    submitted_at         REAL,
    finished_at          REAL,                     -- provider reached completed/failed, or we gave up
    delivered_at         REAL,
    next_poll_at         REAL                      -- when the poller next acts on this task; NULL = nothing to do
);

CREATE INDEX tasks_due ON tasks (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX tasks_requester ON tasks (requester_id, created_at);
CREATE INDEX tasks_guild ON tasks (guild_id, created_at);

-- Small facts the bot remembers between runs (e.g. the hash of the last synced command set).
CREATE TABLE bot_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

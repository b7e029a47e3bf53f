-- PostgreSQL's version 6 (SQLite's: bot/core/migrations/V6__line.sql, which says more).
-- The line: `turn` is the request's place in the round-robin across members (NULL on older rows: they never
-- wait), and a server's own bound on its videos with the provider at once (NULL = only MAX_IN_FLIGHT).
ALTER TABLE tasks ADD COLUMN turn bigint;
ALTER TABLE guild_settings ADD COLUMN max_in_flight integer;
-- Counting what is with the provider (per server too) and reading the line, without scanning every task.
CREATE INDEX tasks_state ON tasks (state, guild_id);
-- A new request's turn reads the highest turn ever given when nothing waits or is with the provider.
CREATE INDEX tasks_turn ON tasks (turn);

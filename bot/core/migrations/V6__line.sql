-- The line (bot/core/store.py, "the line"): requests accepted while the provider is full wait in state
-- `waiting` until a slot frees. `turn` is the request's place in the round-robin across members, given when
-- it is written (max(the line's current turn, the member's last turn + 1)); the line is served by turn, then
-- by id. NULL on rows written before this column: they never wait.
ALTER TABLE tasks ADD COLUMN turn INTEGER;
-- A server's own bound on its videos with the provider at once (/videoadmin limits max_in_flight); NULL =
-- only the owner's MAX_IN_FLIGHT.
ALTER TABLE guild_settings ADD COLUMN max_in_flight INTEGER;
-- Counting what is with the provider (per server too) and reading the line, without scanning every task.
CREATE INDEX tasks_state ON tasks (state, guild_id);
-- A new request's turn reads the highest turn ever given when nothing waits or is with the provider.
CREATE INDEX tasks_turn ON tasks (turn);

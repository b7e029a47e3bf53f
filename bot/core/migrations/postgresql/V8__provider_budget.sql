-- The provider request budget shared by every bot process on this database (bot/core/shared_budget.py):
-- one row, the schedule in seconds on the database's clock (epoch). `tat`: the next free departure slot
-- (GCRA's theoretical arrival time); `paused_until`: the end of the pause after a 429, only ever extended.
-- 0 is long past: the first request leaves at once.
CREATE TABLE provider_budget (
    id smallint PRIMARY KEY CHECK (id = 1),
    tat double precision NOT NULL,
    paused_until double precision NOT NULL
);
INSERT INTO provider_budget (id, tat, paused_until) VALUES (1, 0, 0);

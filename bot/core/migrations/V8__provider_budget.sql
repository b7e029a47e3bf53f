-- The provider request budget shared by several bot processes (bot/core/shared_budget.py). Used only on
-- PostgreSQL: one SQLite process keeps its budget in memory (bot/core/budget.py) and never reads this table.
-- Created here anyway so schema version 8 means the same in both stores (and a copy of this database to
-- PostgreSQL finds the same tables). Same columns as migrations/postgresql/V8__provider_budget.sql.
CREATE TABLE provider_budget (
    id smallint PRIMARY KEY CHECK (id = 1),
    tat double precision NOT NULL,
    paused_until double precision NOT NULL
);
INSERT INTO provider_budget (id, tat, paused_until) VALUES (1, 0, 0);

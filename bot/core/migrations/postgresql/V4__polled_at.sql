-- PostgreSQL's version 4 (SQLite's: bot/core/migrations/V4__polled_at.sql, which says why).
-- When the provider last said a task was not finished; NULL on rows written before this column.
ALTER TABLE tasks ADD COLUMN polled_at double precision;

-- PostgreSQL's version 7 (SQLite's: bot/core/migrations/V7__task_locale.sql, which says more).
-- The requester's Discord locale (`zh-CN`, `de`), recorded when the task is written; NULL: DEFAULT_LOCALE.
ALTER TABLE tasks ADD COLUMN locale text;

-- The requester's language (a Discord locale code such as `zh-CN`, `de`), recorded when the task is written,
-- so its public posts (status message, video, failure) are written in it, the same after any restart. NULL on
-- rows written before this column, and when Discord gave none: DEFAULT_LOCALE.
ALTER TABLE tasks ADD COLUMN locale TEXT;

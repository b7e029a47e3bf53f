-- PostgreSQL's version 3 (SQLite's: bot/core/migrations/V3__request_value.sql).
-- The member's request becomes one value on the task (JSON of bot/core/request.py: VideoRequest), so a new
-- video option changes no column. `model` stays a column of its own, copied from the request when the row
-- is written, because the usage report and the ETA query group and filter by it.
ALTER TABLE tasks ADD COLUMN request text NOT NULL DEFAULT '{}';

UPDATE tasks SET request = json_build_object(
    'model', model,
    'prompt', prompt,
    'duration', duration,
    'aspect_ratio', aspect_ratio,
    'resolution', resolution,
    'image_urls', image_urls::json
)::text;

ALTER TABLE tasks DROP COLUMN prompt;
ALTER TABLE tasks DROP COLUMN duration;
ALTER TABLE tasks DROP COLUMN aspect_ratio;
ALTER TABLE tasks DROP COLUMN resolution;
ALTER TABLE tasks DROP COLUMN image_urls;

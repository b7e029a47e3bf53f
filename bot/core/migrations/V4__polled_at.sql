-- When the provider last said a task was not finished (the pipeline sets it to the submission, each poll that
-- finds the task queued or processing moves it on). With finished_at, the first poll that found it done, it
-- brackets when the provider really finished: finished_at alone is late by up to one poll interval, and the
-- poll schedule learned from history (bot/core/scheduler.py) would be learned late by half of one.
-- NULL on rows written before this column: their finished_at is used as it is.
ALTER TABLE tasks ADD COLUMN polled_at REAL;

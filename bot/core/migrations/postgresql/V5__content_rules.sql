-- PostgreSQL's version 5 (SQLite's: bot/core/migrations/V5__content_rules.sql, which says more).
-- A server's content rules: blocked_words, a JSON list of the words as the admins typed them;
-- age_restricted_only, 1 = videos only in age-restricted (NSFW) channels and their threads.
ALTER TABLE guild_settings ADD COLUMN blocked_words text NOT NULL DEFAULT '[]';
ALTER TABLE guild_settings ADD COLUMN age_restricted_only integer NOT NULL DEFAULT 0;

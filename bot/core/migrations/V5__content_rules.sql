-- A server's content rules, set with /videoadmin blocked-words and /videoadmin age-restricted-only.
-- blocked_words: JSON list of the words as the admins typed them (matched whole, ignoring case and accents,
-- see bot/core/policy.py: blocked_word_in). age_restricted_only: 1 = videos only in age-restricted (NSFW)
-- channels and their threads.
ALTER TABLE guild_settings ADD COLUMN blocked_words TEXT NOT NULL DEFAULT '[]';
ALTER TABLE guild_settings ADD COLUMN age_restricted_only INTEGER NOT NULL DEFAULT 0;

-- A data migration: a trigger keeps a per-user post count, and a backfill fills it once.

-- migrate:up
ALTER TABLE users ADD COLUMN post_count INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER posts_count_insert AFTER INSERT ON posts BEGIN
    UPDATE users SET post_count = post_count + 1 WHERE id = NEW.user_id;
END;

UPDATE users SET post_count = (SELECT count(*) FROM posts WHERE posts.user_id = users.id);

-- migrate:down
DROP TRIGGER posts_count_insert;
ALTER TABLE users DROP COLUMN post_count;

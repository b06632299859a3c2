-- After the backfill, every post has a slug: make them unique (this fails loudly if the
-- backfill produced duplicates, and the whole migration rolls back).

-- migrate:up
CREATE UNIQUE INDEX posts_slug ON posts (slug);

-- migrate:down
DROP INDEX posts_slug;

-- Sample data so the backfill after it has something to do: 50 users, 2,000 posts.

-- migrate:up
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO users (email, name) SELECT 'user' || i || '@example.com', 'User ' || i FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO posts (user_id, title) SELECT 1 + (i % 50), 'Post number ' || i || ': Hello, World!' FROM n;

-- migrate:down
DELETE FROM posts;
DELETE FROM users;

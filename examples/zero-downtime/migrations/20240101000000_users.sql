-- migrate:up
CREATE TABLE users (id BIGINT PRIMARY KEY, full_name TEXT NOT NULL);
-- Some data to migrate (an existing application would have it already).
INSERT INTO users (id, full_name) SELECT n, 'First' || n || ' Last' || n FROM generate_series(1, 5000) AS n;

-- migrate:down
DROP TABLE users;

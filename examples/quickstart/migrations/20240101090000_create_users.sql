-- One file, two sections (the dbmate layout). Everything below `-- migrate:up` runs in one
-- transaction together with the history row.

-- migrate:up
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- migrate:down
DROP TABLE users;

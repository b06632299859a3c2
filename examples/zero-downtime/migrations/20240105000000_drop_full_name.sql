-- Contract, step 2 — deployed only once no running release reads full_name.
-- migrate:up
SET lock_timeout = '5s';
-- db-migrate:nolint DM006 no release since 2.3 reads full_name
ALTER TABLE users DROP COLUMN full_name;

-- Expand: new nullable columns. The running application keeps using full_name; the next
-- release writes both.
-- migrate:up
SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;

-- migrate:down
SET lock_timeout = '5s';
ALTER TABLE users DROP COLUMN last_name;
ALTER TABLE users DROP COLUMN first_name;

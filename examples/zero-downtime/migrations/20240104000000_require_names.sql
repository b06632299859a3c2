-- Contract, step 1: every row has the new columns; make the database say so without a long lock.
-- Not transactional: the NOT VALID constraint must commit before VALIDATE, or the ACCESS EXCLUSIVE
-- lock ADD CONSTRAINT took would be held through the whole validation scan (lint DM040).
-- migrate:up transaction:false
SET lock_timeout = '5s';
ALTER TABLE users ADD CONSTRAINT users_first_name_present CHECK (first_name IS NOT NULL) NOT VALID;
-- VALIDATE scans, but under a lock that lets reads and writes through.
ALTER TABLE users VALIDATE CONSTRAINT users_first_name_present;
-- The validated CHECK above lets PostgreSQL 12+ skip the scan (lint knows: no DM010).
ALTER TABLE users ALTER COLUMN first_name SET NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_first_name_present;

-- migrate:down
SET lock_timeout = '5s';
ALTER TABLE users ALTER COLUMN first_name DROP NOT NULL;

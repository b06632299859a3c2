-- A folder with up.sql and down.sql (the diesel layout); its version becomes 20240103090000.
CREATE INDEX posts_by_user ON posts (user_id, created_at);

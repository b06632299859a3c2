INSERT INTO notes (id, body, tag) VALUES (1, 'migrated at start-up', 'welcome');

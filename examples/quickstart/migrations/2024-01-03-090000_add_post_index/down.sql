DROP INDEX posts_by_user;

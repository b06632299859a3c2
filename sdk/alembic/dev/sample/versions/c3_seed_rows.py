"""seed users and posts

Revision ID: c3
Revises: b2
"""
from alembic import op
import sqlalchemy as sa

revision = "c3"
down_revision = "b2"

users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String), sa.column("name", sa.String))
posts = sa.table(
    "posts", sa.column("id", sa.Integer), sa.column("user_id", sa.Integer),
    sa.column("title", sa.String), sa.column("legacy_code", sa.String),
)


def upgrade():
    op.bulk_insert(users, [
        {"id": 1, "email": "ada@example.com", "name": "Ada Lovelace"},
        {"id": 2, "email": "alan@example.com", "name": "Alan Turing"},
        {"id": 3, "email": "grace@example.com", "name": "Grace Hopper"},
    ])
    op.bulk_insert(posts, [
        {"id": 1, "user_id": 1, "title": "Notes on the Engine", "legacy_code": "N-1"},
        {"id": 2, "user_id": 2, "title": "Computable Numbers", "legacy_code": "C-2"},
        {"id": 3, "user_id": 3, "title": "A Compiler", "legacy_code": None},
    ])


def downgrade():
    op.execute(posts.delete().where(posts.c.id.in_([1, 2, 3])))
    op.execute(users.delete().where(users.c.id.in_([1, 2, 3])))

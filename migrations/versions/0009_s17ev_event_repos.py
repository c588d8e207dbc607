"""event_repos (events per repository, type and action), filled from the stored events; the events
indexes that only served aggregates (now read from event_hours / event_repos) are dropped

Revision ID: 0009_s17ev_event_repos
Revises: 0005_hostile
Create Date: 2026-12-02 04:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_s17ev_event_repos"
down_revision = "0005_hostile"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_events_type_created": ["type", "created_at"],
    "ix_events_type_repo": ["type", "repo_name"],
    "ix_events_action_type_created": ["action", "type", "created_at"],
}


def upgrade():
    op.create_table(
        "event_repos",
        sa.Column("repo_name", sa.String(length=140), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("repo_id", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("oldest", sa.DateTime(timezone=True), nullable=False),
        sa.Column("newest", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repo_name", "type", "action", "repo_id", name="pk_event_repos"),
    )
    op.execute(
        "INSERT INTO event_repos (repo_name, type, action, repo_id, count, oldest, newest) "
        "SELECT coalesce(repo_name, ''), type, coalesce(action, ''), coalesce(repo_id, 0), count(*), "
        "min(created_at), max(created_at) FROM events GROUP BY 1, 2, 3, 4"
    )
    for name in DROPPED:
        op.drop_index(name, table_name="events")


def downgrade():
    for name, columns in DROPPED.items():
        op.create_index(name, "events", columns, unique=False)
    op.drop_table("event_repos")

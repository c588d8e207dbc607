"""event_repos (events per repository, type, action and `public` flag), filled from the stored events;
the events indexes that only served aggregates (now read from event_hours / event_repos) are dropped, and
the index on GitHub id gains the time (a concealed repository's events in a window)

Revision ID: 0010_s17ev_event_repos
Revises: 0009_s17_event_public
Create Date: 2026-12-02 04:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_s17ev_event_repos"
down_revision = "0009_s17_event_public"
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
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("oldest", sa.DateTime(timezone=True), nullable=False),
        sa.Column("newest", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("repo_name", "type", "action", "repo_id", "public", name="pk_event_repos"),
    )
    op.execute(
        "INSERT INTO event_repos (repo_name, type, action, repo_id, public, count, oldest, newest) "
        "SELECT coalesce(repo_name, ''), type, coalesce(action, ''), coalesce(repo_id, 0), public, count(*), "
        "min(created_at), max(created_at) FROM events GROUP BY 1, 2, 3, 4, 5"
    )
    for name in DROPPED:
        op.drop_index(name, table_name="events")
    # a concealed repository's events in a window are found by GitHub id and time
    op.drop_index("ix_events_repo_id", table_name="events")
    op.create_index("ix_events_repo_id_created", "events", ["repo_id", "created_at"], unique=False)


def downgrade():
    op.drop_index("ix_events_repo_id_created", table_name="events")
    op.create_index("ix_events_repo_id", "events", ["repo_id"], unique=False)
    for name, columns in DROPPED.items():
        op.create_index(name, "events", columns, unique=False)
    op.drop_table("event_repos")

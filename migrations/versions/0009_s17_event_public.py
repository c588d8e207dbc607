"""events: GitHub's `public` flag, stored so events of private repositories stay concealed; event_hours split by it

An index on events.repo_id finds a concealed repository's events by GitHub id (kept across renames).
Rows stored before this revision were read from feeds whose `public` flag was not kept; they keep
showing (public) as they did. event_hours is rebuilt from the events with the flag in its key.

Revision ID: 0009_s17_event_public
Revises: 0005_hostile
Create Date: 2026-12-02 04:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_s17_event_public"
down_revision = "0005_hostile"
branch_labels = None
depends_on = None


def _hour_sql() -> str:
    # SQLite keeps datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text (SQLAlchemy's format), in UTC here.
    if op.get_bind().dialect.name == "postgresql":
        return "date_trunc('hour', created_at, 'UTC')"
    return "strftime('%Y-%m-%d %H:00:00.000000', created_at)"


def _create_hours(with_public: bool) -> None:
    columns = [
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
    ]
    key = ["hour", "type", "action"]
    if with_public:
        columns.append(sa.Column("public", sa.Boolean(), nullable=False))
        key.append("public")
    op.create_table(
        "event_hours",
        *columns,
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("oldest", sa.DateTime(timezone=True), nullable=False),
        sa.Column("newest", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_event_hours"),
    )
    names = ", ".join(key)
    groups = ", ".join(str(i + 1) for i in range(len(key)))
    selected = f"{_hour_sql()}, type, coalesce(action, '')" + (", public" if with_public else "")
    op.execute(
        f"INSERT INTO event_hours ({names}, count, oldest, newest) "  # noqa: S608 - constant SQL
        f"SELECT {selected}, count(*), min(created_at), max(created_at) FROM events GROUP BY {groups}"
    )


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.create_index("ix_events_repo_id", ["repo_id"], unique=False)
    op.drop_table("event_hours")
    _create_hours(with_public=True)


def downgrade():
    op.drop_table("event_hours")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_repo_id")
        batch_op.drop_column("public")
    _create_hours(with_public=False)

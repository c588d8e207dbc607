"""webhooks: delivery ids (de-duplication), delivery counts by event and outcome, projects.refresh_requested_at;
event_hours (events per hour, type and action), filled from the stored events

Revision ID: 0006_webhooks
Revises: 0002_events
Create Date: 2026-12-01 21:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006_webhooks"
down_revision = "0002_events"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"], unique=False)
    op.create_table(
        "webhook_counts",
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event", "outcome"),
    )
    op.create_table(
        "event_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("oldest", sa.DateTime(timezone=True), nullable=False),
        sa.Column("newest", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hour", "type", "action"),
    )
    # SQLite keeps datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text (SQLAlchemy's format), in UTC here.
    hour = (
        "date_trunc('hour', created_at, 'UTC')"
        if op.get_bind().dialect.name == "postgresql"
        else "strftime('%Y-%m-%d %H:00:00.000000', created_at)"
    )
    op.execute(
        "INSERT INTO event_hours (hour, type, action, count, oldest, newest) "  # noqa: S608 - constant SQL
        f"SELECT {hour}, type, coalesce(action, ''), count(*), min(created_at), max(created_at) "
        "FROM events GROUP BY 1, 2, 3"
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_table("event_hours")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("refresh_requested_at")
    op.drop_table("webhook_counts")
    op.drop_index("ix_webhook_deliveries_received_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")

"""events: indexes for the action filter and for busy repositories per type

Revision ID: 0002_events
Revises: 0001
Create Date: 2026-11-22 05:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_events"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        # multiple-events-repos: WHERE type = ? GROUP BY repo_name, answered from the index alone
        batch_op.create_index("ix_events_type_repo", ["type", "repo_name"], unique=False)
        # avg-time / total-count with `action`: the action is not in the other indexes
        batch_op.create_index("ix_events_action_type_created", ["action", "type", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_action_type_created")
        batch_op.drop_index("ix_events_type_repo")

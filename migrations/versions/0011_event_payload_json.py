"""events.payload as PostgreSQL's json rather than jsonb: a quarter less server work per stored event

The payload is only stored and served back, never queried inside, so jsonb's parsed form buys
nothing while its conversion was the largest single cost of ingest after the indexes (issue 12).
SQLite keeps its JSON column as it was.

Revision ID: 0011_event_payload_json
Revises: 0010_s17ev_event_repos
Create Date: 2026-12-02 13:40:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_event_payload_json"
down_revision = "0010_s17ev_event_repos"
branch_labels = None
depends_on = None


def _payload_type(name: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE events ALTER COLUMN payload TYPE {name} USING payload::text::{name}")


def upgrade() -> None:
    _payload_type("json")


def downgrade() -> None:
    _payload_type("jsonb")

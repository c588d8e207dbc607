"""A refresh stores authored lines next to `loc`, and recounts projects counted before they existed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from infra.extensions import db
from models import Project
from tests.refresh_helpers import projects_by_name, refresh
from tests.standin.server import GitHubStandIn

FILES = {
    ".gitattributes": "gen/* linguist-generated\n",
    "app.py": "import os\n\nprint(os.sep)\n",  # 2 code lines
    "gen/schema.py": "a = 1\nb = 2\nc = 3\n",  # generated: 3 lines
    "vendor/lib.js": "var a = 1;\nvar b = 2;\n",  # vendored by linguist's list: 2 lines
}


def test_refresh_stores_authored_lines(client: Any, app: Any, github: GitHubStandIn, make_repo: Any) -> None:
    repo = make_repo("authored")
    repo.write_many(FILES)
    repo.commit("code, generated and vendored", at=datetime(2024, 3, 1, tzinfo=UTC))
    github.add_repo("authored", clone_url=repo.publish())

    assert refresh(client)["status"] == "completed"
    project = projects_by_name(client)["authored"]
    assert (project["loc"], project["loc_by_language"]) == (7, {"JavaScript": 2, "Python": 5})
    assert (project["authored_loc"], project["authored_loc_by_language"]) == (2, {"Python": 2})
    totals = client.get("/api/metrics").get_json()
    assert (totals["total_authored_loc"], totals["authored_loc_by_language"]) == (2, {"Python": 2})

    # A project counted before authored lines existed (NULL) is recounted without a new commit.
    with app.app_context():
        row = db.session.scalar(db.select(Project).where(Project.name == "authored"))
        row.authored_loc, row.authored_loc_by_language = None, None
        db.session.commit()
    assert refresh(client)["status"] == "completed"
    assert projects_by_name(client)["authored"]["authored_loc"] == 2

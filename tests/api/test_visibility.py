"""One visibility rule on every read: without the admin token, nothing of a private or hidden repository shows.

The routes come from the app's URL map, with every path parameter filled with the concealed
repositories' ids, names and jobs, so a GET route added later is walked too.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from events import store
from infra.extensions import db
from models import Commit, EventSource, RefreshJob, RefreshJobItem, RepoUpdate
from tests.repo_helpers import add_project

ADMIN = "visibility-admin-token"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
WHEN = datetime(2024, 3, 5, 12, 30, tzinfo=UTC)
# Strings that identify the concealed repositories; none may appear in an anonymous answer.
PRIVATE_STRINGS = ["ZephyrVault", "quantum-ledger-prototype", "Pelican-migration", "Quillon Varga",
                   "quillon@hidden.example"]  # fmt: skip
# An event GitHub marked private (`public: false`) of a repository nobody tracks: repository, actor, payload.
UNTRACKED_PRIVATE_EVENT = ["stealth-owner/NebulaCovertRepo", "covert-actor-ravel", "obsidian-payload-marker"]
HIDDEN_STRINGS = ["ShadowedThing", "shadow-desc-lantern", "Moth-commit-subject", "Ines Shadowhand",
                  "ines@shadow.example"]  # fmt: skip
# A private project opted in for metrics: its name shows, its history never does.
METRICS_ONLY_HISTORY = ["Orla Metricsauthor", "orla@metrics.example", "Gadget-commit-subject"]
QUERIES = ["", "?repo={id}", "?repository_name={full}", "?offset=10000000000", "?event_type=PushEvent",
           "?event_type=PushEvent&minimal_events_count=1", "?offset=10000000000&repository_name={full}",
           "?event_type=PushEvent&repository_name={full}", "?per_page=100"]  # fmt: skip


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN}


def commit(project_id: int, sha: str, author: str, email: str, subject: str, loc: int = 3) -> Commit:
    return Commit(project_id=project_id, sha=sha, author_name=author, author_email=email, authored_at=WHEN,
                  committer_name=author, committer_email=email, committed_at=WHEN, committed_day=WHEN.date(),
                  additions=loc, deletions=1, files_changed=1, churn=loc + 1, subject=subject)  # fmt: skip


def event(event_id: int, repo_id: int, name: str, public: bool = False, actor: str = "someone",
          note: str = "plain", at: str = "2024-03-05T12:00:00Z") -> dict[str, Any]:  # fmt: skip
    return {"id": str(event_id), "type": "PushEvent", "created_at": at, "public": public,
            "actor": {"id": 7, "login": actor}, "repo": {"id": repo_id, "name": name},
            "payload": {"push_id": event_id, "size": 1, "ref": f"refs/heads/{note}"}}  # fmt: skip


def store_concealed(app: Any) -> dict[str, Any]:
    """Store a public, a private, a hidden and a metrics-only project with commits, events, history, jobs."""
    common = {"loc": 0, "commit_count": 1, "primary_language": "Python", "last_error": None}
    public = add_project(app, "sunny-owner", "Sunlit", github_id=111, private=False, loc=100, commit_count=4,
                         description="plain public", primary_language="Python")  # fmt: skip
    private = add_project(app, "vault-owner", "ZephyrVault", github_id=222, private=True,
                          description="quantum-ledger-prototype", **{**common, "loc": 7000})  # fmt: skip
    hidden = add_project(app, "sunny-owner", "ShadowedThing", github_id=333, private=False, hidden=True,
                         description="shadow-desc-lantern", **{**common, "loc": 900})  # fmt: skip
    gadget = add_project(app, "vault-owner", "MetricsOnlyGadget", github_id=444, private=True, public_metrics=True,
                         description="gadget metrics", **{**common, "loc": 50})  # fmt: skip
    with app.app_context():
        db.session.add_all([
            commit(public, "a" * 40, "Pat Public", "pat@public.example", "public subject"),
            commit(private, "b" * 40, "Quillon Varga", "quillon@hidden.example", "Pelican-migration secret"),
            commit(hidden, "c" * 40, "Ines Shadowhand", "ines@shadow.example", "Moth-commit-subject"),
            commit(gadget, "d" * 40, "Orla Metricsauthor", "orla@metrics.example", "Gadget-commit-subject"),
        ])  # fmt: skip
        for ident in (private, hidden):
            note = "ZephyrVault ShadowedThing stars 1 -> 2"
            db.session.add(RepoUpdate(project_id=ident, update_type="stars", old_value="1", new_value="2",
                                      description=note, created_at=WHEN))  # fmt: skip
        db.session.add(EventSource(key="repo:vault-owner/ZephyrVault", path="/repos/vault-owner/ZephyrVault/events",
                                   last_status=200, poll_interval=60))  # fmt: skip
        everything = RefreshJob(status="completed", trigger="api", scope="all", total_repositories=4,
                                repositories_processed=4, repositories_failed=3, completed_at=WHEN,
                                error_message="3 of 4 repositories failed: sunny-owner/ShadowedThing, "
                                "sunny-owner/Sunlit, vault-owner/ZephyrVault")  # fmt: skip
        everything.items = [
            RefreshJobItem(project_id=private, repository="vault-owner/ZephyrVault", status="failed",
                           error="clone of ZephyrVault failed"),
            RefreshJobItem(project_id=hidden, repository="sunny-owner/ShadowedThing", status="failed",
                           error="ShadowedThing broke"),
            RefreshJobItem(project_id=public, repository="sunny-owner/Sunlit", status="failed", error="Sunlit broke"),
        ]  # fmt: skip
        single = RefreshJob(status="failed", trigger="api", scope="repo", project_id=private,
                            error_message="vault-owner/ZephyrVault: quantum-ledger-prototype")  # fmt: skip
        db.session.add_all([everything, single])
        db.session.commit()
        jobs = [everything.id, single.id]
    with app.app_context():
        store.store_events([event(9001, 222, "vault-owner/ZephyrVault"), event(9002, 222, "vault-owner/OldName"),
                            # a public repository the owner hid: GitHub marks its events public
                            event(9003, 333, "sunny-owner/ShadowedThing", public=True),
                            event(9004, 444, "vault-owner/MetricsOnlyGadget"),
                            event(9005, 111, "sunny-owner/Sunlit", public=True, at="2024-03-05T12:10:00Z"),
                            event(9006, 555, "stealth-owner/NebulaCovertRepo", actor="covert-actor-ravel",
                                  note="obsidian-payload-marker", at="2024-03-05T12:20:00Z"),
                            event(9007, 666, "open-owner/OpenThing", public=True,
                                  at="2024-03-05T12:40:00Z")])  # fmt: skip
    return {"public": public, "private": private, "hidden": hidden, "gadget": gadget, "jobs": jobs}


def concrete_urls(app: Any, stored: dict[str, Any]) -> list[str]:
    """Return every GET rule of the URL map with its parameters filled with the concealed repositories."""
    targets = [("vault-owner", "ZephyrVault", stored["private"]), ("sunny-owner", "ShadowedThing", stored["hidden"]),
               ("vault-owner", "MetricsOnlyGadget", stored["gadget"])]  # fmt: skip
    urls: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        for owner, name, ident in targets:
            values = {
                "int": [str(ident)],
                "path": [name, f"{owner}/{name}", f"{owner}/{name}".lower()],
                "default": [*stored["jobs"], name, "charts.js"],
            }
            options = []
            for arg in sorted(rule.arguments):
                converter = type(rule._converters[arg]).__name__.lower()
                kind = "int" if "integer" in converter else "path" if "path" in converter else "default"
                options.append([(arg, v) for v in values[kind]])
            for combo in itertools.product(*options):
                path = rule.rule
                for arg, value in combo:
                    path = re.sub(rf"<[^>]*\b{arg}>", value, path)
                urls.extend(path + q.format(id=ident, full=f"{owner}/{name}") for q in QUERIES)
    return sorted(set(urls))


def test_no_get_route_shows_a_concealed_repository_without_the_admin_token(app: Any, client: Any) -> None:
    stored = store_concealed(app)
    urls = concrete_urls(app, stored)
    assert any("/commits" in u for u in urls) and any(u.startswith("/api/events") for u in urls)
    leaks: list[str] = []
    revealed: set[str] = set()
    forbidden = [s.lower() for s in PRIVATE_STRINGS + HIDDEN_STRINGS + METRICS_ONLY_HISTORY + UNTRACKED_PRIVATE_EVENT]
    for url in urls:
        anonymous = client.get(url)
        text = anonymous.get_data(as_text=True).lower()
        if "repository_name=" in url:
            # Event filters are echoed back (JSON, chart captions): a concealed repository must answer
            # exactly as a repository nobody tracks, and that echo is the caller's input, not stored data.
            sent = url.split("repository_name=")[1].split("&")[0]
            path, _, query = url.partition("?")
            other = f"{path}?{query.replace(sent, 'nobody-owner/NoSuchRepo')}"
            unknown = client.get(other).get_data(as_text=True).lower()
            assert text == unknown.replace("nobody-owner/nosuchrepo", sent.lower()), url
            text = unknown
        leaks.extend(f"{url}: {s}" for s in forbidden if s in text)
        admin_text = client.get(url, headers=AS_ADMIN).get_data(as_text=True).lower()
        revealed.update(s for s in forbidden if s in admin_text)
    assert leaks == [], "\n".join(leaks)
    # The walk reaches the concealed data: with the token every identifying string shows somewhere.
    assert revealed == set(forbidden)


def test_metrics_only_project_shows_metrics_and_never_history(app: Any, client: Any) -> None:
    stored = store_concealed(app)
    names = [p["name"] for p in client.get("/api/projects").get_json()]
    assert names == ["MetricsOnlyGadget", "Sunlit"] or sorted(names) == ["MetricsOnlyGadget", "Sunlit"]
    assert client.get("/api/project/MetricsOnlyGadget").get_json()["loc"] == 50
    gadget = stored["gadget"]
    assert client.get(f"/api/repos/{gadget}").get_json()["public_metrics"] is True
    detail = [f"/api/repos/{gadget}/{part}" for part in ("commits", "activity", "history", "history/stars")]
    for url in [*detail, f"/api/commits/top-contributors?repo={gadget}", "/charts/projects/MetricsOnlyGadget/stars"]:
        assert client.get(url).status_code == 404, url
        assert client.get(url, headers=AS_ADMIN).status_code == 200, url
    contributors = client.get("/api/commits/top-contributors").get_json()["contributors"]
    assert [c["email"] for c in contributors] == ["pat@public.example"]
    assert client.get(f"/api/repos/{stored['private']}").status_code == 404
    assert client.get(f"/api/repos/{stored['private']}", headers=AS_ADMIN).get_json()["repo_name"] == "ZephyrVault"


def test_rollups_count_only_what_the_reader_may_see(app: Any, client: Any) -> None:
    store_concealed(app)
    anonymous = client.get("/api/metrics").get_json()
    # Sunlit (public, 100) + MetricsOnlyGadget (opted in, 50); not ZephyrVault (private) nor ShadowedThing (hidden).
    assert (anonymous["total_projects"], anonymous["total_loc"]) == (2, 150)
    admin = client.get("/api/metrics", headers=AS_ADMIN).get_json()
    # The admin's portfolio leaves out only the hidden project.
    assert (admin["total_projects"], admin["total_loc"]) == (3, 7150)
    repos = client.get("/api/repos?per_page=100").get_json()
    assert sorted(r["repo_name"] for r in repos["items"]) == ["MetricsOnlyGadget", "Sunlit"]
    assert repos["total"] == 2
    everything = client.get("/api/repos?per_page=100", headers=AS_ADMIN).get_json()
    assert everything["total"] == 4


def test_a_repository_that_became_private_disappears_at_once(app: Any, client: Any) -> None:
    stored = store_concealed(app)
    assert client.get(f"/api/repos/{stored['public']}/commits").status_code == 200
    with app.app_context():
        from models import Project

        db.session.get(Project, stored["public"]).private = True  # what a metadata refresh writes
        db.session.commit()
    assert client.get(f"/api/repos/{stored['public']}/commits").status_code == 404
    assert [p["name"] for p in client.get("/api/projects").get_json()] == ["MetricsOnlyGadget"]
    assert client.get("/api/events?repository_name=sunny-owner/Sunlit").get_json()["total"] == 0


def test_event_metrics_count_only_the_events_the_reader_may_see(app: Any, client: Any) -> None:
    store_concealed(app)
    # Visible: Sunlit's public event (12:10) and OpenThing's (12:40), an untracked public repository.
    # Not: the private repositories' events, the hidden repository's public one, NebulaCovertRepo's private one.
    cases = [({}, ["open-owner/OpenThing", "sunny-owner/Sunlit"], 1800.0),
             (AS_ADMIN, ["open-owner/OpenThing", "stealth-owner/NebulaCovertRepo", "sunny-owner/Sunlit",
                         "sunny-owner/ShadowedThing", "vault-owner/MetricsOnlyGadget", "vault-owner/OldName",
                         "vault-owner/ZephyrVault"], 400.0)]  # fmt: skip
    for headers, repos, gap in cases:
        listed = client.get("/api/events?per_page=100", headers=headers).get_json()
        assert sorted(e["repository_name"] for e in listed["events"]) == sorted(repos)
        assert listed["total"] == len(repos)
        # a window over whole hours: read from the per-hour counters, corrected for the hidden repository's event
        counts = client.get("/api/events/metrics/total-count?offset=10000000000", headers=headers).get_json()
        assert (counts["events_count"]["PushEvent"], counts["events_count"]["total"]) == (len(repos), len(repos))
        assert counts["oldest_event_time"] == ("2024-03-05T12:10:00Z" if not headers else "2024-03-05T12:00:00Z")
        average = client.get("/api/events/metrics/avg-time?event_type=PushEvent", headers=headers).get_json()
        # (12:40 - 12:10) / 1 gap anonymously; (12:40 - 12:00) / 6 gaps for the admin
        assert (average["events_count"], average["avg_time"]) == (len(repos), gap)
        exported = client.get("/metrics", headers=headers).get_data(as_text=True)
        assert f"project_tracker_events_stored {float(len(repos))}" in exported.splitlines()
        chart = client.get("/charts/events-total-count?offset=10000000000", headers=headers).get_data(as_text=True)
        assert ("NebulaCovertRepo" in chart) is False


def test_a_missing_public_flag_counts_as_public_and_false_as_private(app: Any, client: Any) -> None:
    with app.app_context():
        unflagged = event(9101, 777, "plain-owner/Unflagged")
        del unflagged["public"]
        store.store_events([unflagged, event(9102, 778, "plain-owner/Flagged", public=False),
                            {**event(9103, 779, "plain-owner/Stringy"), "public": "true"}])  # fmt: skip
    names = [e["repository_name"] for e in client.get("/api/events").get_json()["events"]]
    assert names == ["plain-owner/Unflagged"]
    assert client.get("/api/events", headers=AS_ADMIN).get_json()["total"] == 3

"""Issue 12: `flask webhooks install` creates or updates the hook on every tracked repository."""

from __future__ import annotations

from typing import Any

from tests.repo_helpers import add_project
from tests.standin.server import GitHubStandIn

SECRET = "webhook-secret-for-install"
URL = "https://tracker.example/api/webhooks/github"
EVENTS = ["push", "repository", "star", "watch", "fork", "public"]


def hooks_of(github: GitHubStandIn, name: str) -> list[dict[str, Any]]:
    return github.hooks.get(github.repo(name).id, [])


def test_install_creates_then_updates_idempotently(make_app: Any, github: GitHubStandIn) -> None:
    login = github.user.login
    app = make_app(WEBHOOK_SECRET=SECRET)
    for name in ("one", "two"):
        github.add_repo(name)
        add_project(app, login, name)
    add_project(app, login, "paused-one", paused=True)
    github.add_repo("paused-one")
    github.hooks[github.repo("two").id] = [
        {"id": 1, "name": "web", "active": True, "events": ["issues"], "created_at": "2024-01-01T00:00:00Z",
         "updated_at": "2024-01-01T00:00:00Z", "config": {"url": "https://other.example/hook", "content_type": "form",
                                                          "insecure_ssl": "0"}}
    ]  # fmt: skip
    runner = app.test_cli_runner()

    first = runner.invoke(args=["webhooks", "install", "--url", URL])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [f"created: {login}/one", f"created: {login}/two"]
    expected = {"url": URL, "content_type": "json", "insecure_ssl": "0", "secret": SECRET}
    for name in ("one", "two"):
        ours = [h for h in hooks_of(github, name) if h["config"]["url"] == URL]
        assert [(h["config"], h["events"], h["active"]) for h in ours] == [(expected, EVENTS, True)]
    assert hooks_of(github, "paused-one") == []

    github.hooks[github.repo("one").id][0]["events"] = ["push"]  # changed by hand on GitHub
    second = runner.invoke(args=["webhooks", "install", "--url", URL])
    assert second.exit_code == 0, second.output
    assert second.output.splitlines() == [f"updated: {login}/one", f"updated: {login}/two"]
    assert [h["events"] for h in hooks_of(github, "one")] == [EVENTS]
    assert [h["config"]["url"] for h in hooks_of(github, "two")] == ["https://other.example/hook", URL]
    assert hooks_of(github, "two")[0]["events"] == ["issues"]  # someone else's hook is left alone
    patches = github.calls(f"/repos/{login}/one/hooks/", method="PATCH")
    assert len(patches) == 1
    assert SECRET not in first.output + second.output


def test_install_reports_failures_and_needs_the_secret(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(WEBHOOK_SECRET=SECRET)
    github.add_repo("someone/theirs")
    add_project(app, "someone", "theirs")
    result = app.test_cli_runner().invoke(args=["webhooks", "install", "--url", URL])
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("failed: someone/theirs (")
    assert SECRET not in result.output

    plain = make_app().test_cli_runner().invoke(args=["webhooks", "install", "--url", URL])
    assert plain.exit_code == 2
    assert "WEBHOOK_SECRET is not set" in plain.output

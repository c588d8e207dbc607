"""The GitHub stand-in itself, driven by PyGithub's public API and by raw `requests`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests

from tests.standin import faults
from tests.standin.model import DEFAULT_TOKEN
from tests.standin.server import GitHubStandIn
from tests.standin.shapes import RECORDINGS

pytest_plugins = ["tests.fixtures_github"]

Loader = Callable[[str], dict[str, Any]]


@pytest.fixture
def http(github: GitHubStandIn) -> Iterator[requests.Session]:
    """Return a requests session that sends the stand-in's token."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"token {github.token}"
        yield session


@pytest.fixture
def pygithub(github: GitHubStandIn) -> Iterator[github.Github]:
    """Return PyGithub pointed at the stand-in."""
    client = github_client(github.api_url, github.token)
    yield client
    client.close()


def github_client(base_url: str, token: str | None) -> github.Github:
    auth = github.Auth.Token(token) if token else None
    return github.Github(base_url=base_url, auth=auth, retry=None, seconds_between_requests=None)


def names(response: requests.Response) -> list[str]:
    """Return the header names exactly as sent (case and order)."""
    return [name for name, _ in response.raw.headers.items()]


def recorded_names(loader: Loader, name: str, index: int = 0) -> list[str]:
    return [n for n, _ in loader(name)["exchanges"][index]["response"]["headers"]]


def test_recordings_are_unchanged_copies_with_origin_and_license() -> None:
    manifest = json.loads((RECORDINGS / "MANIFEST.json").read_text())
    files = sorted(p.name for p in RECORDINGS.glob("*.json") if p.name != "MANIFEST.json")
    assert sorted(entry["file"] for entry in manifest) == files
    for entry in manifest:
        data = (RECORDINGS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert entry["license"] and entry["origin"]["source"] and entry["origin"]["commit"]


def test_repo_answer_copies_recorded_header_names_in_order(
    github: GitHubStandIn, http: requests.Session, github_recordings: Loader
) -> None:
    github.add_repo("alpha", stargazers_count=7)
    response = http.get(github.url("/repos/octo-owner/alpha"))
    assert response.status_code == 200
    assert names(response) == recorded_names(github_recordings, "repo_get.pygithub.2026.json")
    assert response.headers["Content-Encoding"] == "gzip"  # requests asked for gzip: it is really gzip
    assert response.headers["ETag"].startswith('W/"')
    assert response.headers["X-RateLimit-Remaining"] == "4999"
    assert int(response.headers["X-RateLimit-Reset"]) > time.time()
    body = response.json()
    assert (body["full_name"], body["stargazers_count"], body["owner"]["id"]) == ("octo-owner/alpha", 7, 1001)
    assert body["url"] == github.url("/repos/octo-owner/alpha")
    assert "api.github.com" not in response.text


def test_identity_encoding_gets_content_length(github: GitHubStandIn, http: requests.Session) -> None:
    github.add_repo("alpha")
    response = http.get(github.url("/repos/octo-owner/alpha"), headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert response.headers["Transfer-Encoding"] == "chunked"
    response = http.get(github.url("/nope"))
    assert response.headers["Content-Length"] == str(len(response.content))


def test_events_walk_three_pages_capped_at_300(
    github: GitHubStandIn, http: requests.Session, github_recordings: Loader
) -> None:
    repo = github.add_repo("alpha")
    github.add_events(350, "PushEvent", "octo-owner/alpha")
    base = github.url(f"/repositories/{repo.id}/events?per_page=100&page=")
    first = http.get(github.url("/repos/octo-owner/alpha/events"), params={"per_page": 100})
    expected = recorded_names(github_recordings, "events_repo.github3py.2018.json")
    after_reset = expected.index("X-RateLimit-Reset") + 1
    expected[after_reset:after_reset] = ["X-RateLimit-Used", "X-RateLimit-Resource"]  # missing from 2018
    assert names(first) == expected
    assert first.headers["Link"] == f'<{base}2>; rel="next", <{base}3>; rel="last"'
    assert first.headers["X-Poll-Interval"] == "60"
    second = http.get(f"{base}2")
    assert second.headers["Link"] == (
        f'<{base}1>; rel="prev", <{base}3>; rel="next", <{base}3>; rel="last", <{base}1>; rel="first"'
    )
    third = http.get(f"{base}3")
    assert third.headers["Link"] == f'<{base}2>; rel="prev", <{base}1>; rel="first"'
    ids = [e["id"] for page in (first, second, third) for e in page.json()]
    assert len(ids) == len(set(ids)) == 300
    assert http.get(f"{base}4").status_code == 422


def test_pygithub_walks_events_and_default_page_size(github: GitHubStandIn, pygithub: github.Github) -> None:
    github.add_repo("alpha")
    github.add_events(95, "WatchEvent", "octo-owner/alpha")
    events = list(pygithub.get_repo("octo-owner/alpha").get_events())
    assert len(events) == 95
    assert {e.type for e in events} == {"WatchEvent"}
    pages = github.calls("/repositories/")
    assert [e.query.get("page") for e in pages] == [["2"], ["3"], ["4"]]  # 30 per page by default


def test_304_keeps_remaining_and_is_not_charged(github: GitHubStandIn, http: requests.Session) -> None:
    github.add_repo("alpha")
    first = http.get(github.url("/repos/octo-owner/alpha"))
    again = http.get(github.url("/repos/octo-owner/alpha"), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["x-ratelimit-remaining"] == first.headers["X-RateLimit-Remaining"] == "4999"
    assert [(e.status, e.charged) for e in github.log] == [(200, True), (304, False)]
    assert github.log[1].if_none_match == first.headers["ETag"]
    since = http.get(
        github.url("/repos/octo-owner/alpha"), headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    github.update_repo("octo-owner/alpha", stargazers_count=1, updated_at="2099-01-01T00:00:00Z")
    changed = http.get(github.url("/repos/octo-owner/alpha"), headers={"If-None-Match": first.headers["ETag"]})
    assert (changed.status_code, changed.json()["stargazers_count"]) == (200, 1)


def test_wrong_or_missing_token(github: GitHubStandIn) -> None:
    github.add_repo("public")
    github.add_repo("secret", private=True)
    with requests.Session() as anonymous:
        bad = anonymous.get(github.url("/user"), headers={"Authorization": "Bearer ghp_nope"})
        assert (bad.status_code, bad.json()) == (
            401,
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
        )
        assert anonymous.get(github.url("/user")).json()["message"] == "Requires authentication"
        public = anonymous.get(github.url("/repos/octo-owner/public"))
        assert (public.status_code, public.headers["X-RateLimit-Limit"]) == (200, "60")
        assert "permissions" not in public.json()
        assert anonymous.get(github.url("/repos/octo-owner/secret")).status_code == 404
    bearer = requests.get(
        github.url("/repos/octo-owner/secret"), headers={"Authorization": f"Bearer {github.token}"}, timeout=5
    )
    assert (bearer.status_code, bearer.json()["private"]) == (200, True)
    assert github.rate(anonymous=True).remaining == 56


def test_unknown_path_is_githubs_404(github: GitHubStandIn, http: requests.Session) -> None:
    response = http.get(github.url("/repos/octo-owner/missing"))
    assert (response.status_code, response.json()) == (
        404,
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
    )


def test_rename_answers_301_and_pygithub_follows(
    github: GitHubStandIn, http: requests.Session, pygithub: github.Github, github_recordings: Loader
) -> None:
    repo = github.add_repo("old-name")
    github.rename_repo("octo-owner/old-name", "new-owner/new-name")
    moved = http.get(github.url("/repos/octo-owner/old-name"), allow_redirects=False)
    location = github.url(f"/repositories/{repo.id}")
    assert (moved.status_code, moved.headers["Location"]) == (301, location)
    assert moved.json() == {
        "message": "Moved Permanently",
        "url": location,
        "documentation_url": "https://docs.github.com/v3/#http-redirects",
    }
    assert names(moved) == [
        n for n in recorded_names(github_recordings, "repo_renamed_301.octokit-fixtures.2022.json") if n != "connection"
    ]
    assert pygithub.get_repo("octo-owner/old-name").full_name == "new-owner/new-name"
    assert [(e.path, e.status) for e in github.log[1:]] == [
        ("/repos/octo-owner/old-name", 301),
        (f"/repositories/{repo.id}", 200),
    ]


def test_pygithub_reads_user_repos_and_languages(github: GitHubStandIn, pygithub: github.Github) -> None:
    github.add_repo("alpha", languages={"Python": 900, "Shell": 100}, topics=["x"])
    github.add_repo("beta", private=True)
    github.add_repo("someone/shared", member="collaborator")
    github.add_repo("someone/unrelated")
    user = pygithub.get_user()
    assert (user.login, user.id) == ("octo-owner", 1001)
    assert [r.full_name for r in user.get_repos()] == ["octo-owner/alpha", "octo-owner/beta", "someone/shared"]
    assert [r.full_name for r in user.get_repos(type="owner")] == ["octo-owner/alpha", "octo-owner/beta"]
    repo = pygithub.get_repo("octo-owner/alpha")
    assert (repo.language, repo.topics, repo.get_languages()["Shell"]) == ("Python", ["x"], 100)


def test_user_repos_pagination_and_filters(github: GitHubStandIn, http: requests.Session) -> None:
    for name in ("c", "a", "b"):
        github.add_repo(name)
    github.add_repo("someone/shared", member="collaborator", private=True)
    page = http.get(github.url("/user/repos"), params={"affiliation": "owner", "per_page": 2})
    assert [r["name"] for r in page.json()] == ["a", "b"]
    assert page.headers["Link"] == (
        f'<{github.url("/user/repos")}?affiliation=owner&per_page=2&page=2>; rel="next", '
        f'<{github.url("/user/repos")}?affiliation=owner&per_page=2&page=2>; rel="last"'
    )
    private = http.get(github.url("/user/repos"), params={"visibility": "private"})
    assert [r["full_name"] for r in private.json()] == ["someone/shared"]
    assert http.get(github.url("/user/repos"), params={"type": "owner", "visibility": "all"}).status_code == 422


def test_primary_limit_until_reset(github: GitHubStandIn, http: requests.Session) -> None:
    github.add_repo("alpha")
    github.set_rate(remaining=1, reset_in=30)
    assert http.get(github.url("/repos/octo-owner/alpha")).headers["X-RateLimit-Remaining"] == "0"
    limited = http.get(github.url("/repos/octo-owner/alpha"))
    assert limited.status_code == 403
    assert limited.json()["message"] == "API rate limit exceeded for user ID 1001."
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) == github.rate().reset
    assert http.get(github.url("/rate_limit")).json()["rate"]["remaining"] == 0
    github.refill()
    assert http.get(github.url("/repos/octo-owner/alpha")).status_code == 200
    assert [e.charged for e in github.log] == [True, False, False, True]


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        (faults.not_found(), 404, "Not Found"),
        (faults.unauthorized(), 401, "Bad credentials"),
        (faults.forbidden(), 403, "Resource not accessible by personal access token"),
        (faults.rate_limit_secondary(retry_after=2), 403, "You have triggered an abuse detection mechanism."),
        (faults.too_many_requests(retry_after=1), 429, "You have exceeded a secondary rate limit"),
        (faults.server_error(500), 500, None),
        (faults.server_error(502), 502, None),
    ],
)
def test_injected_status_faults(
    github: GitHubStandIn, http: requests.Session, fault: faults.Fault, status: int, message: str | None
) -> None:
    github.add_repo("alpha")
    github.inject("/repos/octo-owner/*", fault, times=2)
    answers = [http.get(github.url("/repos/octo-owner/alpha")) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    if message:
        assert answers[0].json()["message"].startswith(message)
    if fault.retry_after is not None:
        assert answers[0].headers["Retry-After"] == str(int(fault.retry_after))
    assert [e.fault for e in github.log] == [fault.name, fault.name, None]


def test_bare_secondary_limit_has_no_headers(github: GitHubStandIn, http: requests.Session) -> None:
    github.inject("/user", faults.rate_limit_secondary(retry_after=None, rate_headers=False))
    answer = http.get(github.url("/user"))
    assert answer.status_code == 403
    assert "Retry-After" not in answer.headers and "x-ratelimit-remaining" not in answer.headers


def test_delay_drop_and_malformed_faults(github: GitHubStandIn, http: requests.Session) -> None:
    github.inject("/user", faults.delay(1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(github.url("/user"), timeout=(1, 0.2))
    github.inject("/user", faults.drop())
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(github.url("/user"))
    github.inject("/user", faults.malformed_json())
    with pytest.raises(requests.exceptions.JSONDecodeError):
        http.get(github.url("/user")).json()
    assert http.get(github.url("/user")).json()["login"] == "octo-owner"
    assert [(e.status, e.fault) for e in github.log] == [
        (200, "delay 1.0s"),
        (None, "connection drop"),
        (200, "malformed JSON"),
        (200, None),
    ]


def test_event_feeds_respect_visibility(github: GitHubStandIn, http: requests.Session) -> None:
    github.add_repo("open")
    github.add_repo("closed", private=True)
    github.add_event("PushEvent", "octo-owner/open")
    github.add_event("PushEvent", "octo-owner/closed")
    github.add_event("WatchEvent", "octo-owner/open", actor="fan")
    github.poll_interval = 90
    public = http.get(github.url("/events"))
    assert [(e["type"], e["repo"]["name"]) for e in public.json()] == [
        ("WatchEvent", "octo-owner/open"),
        ("PushEvent", "octo-owner/open"),
    ]
    assert public.headers["X-Poll-Interval"] == "90"
    assert len(http.get(github.url("/users/octo-owner/events")).json()) == 2
    assert len(http.get(github.url("/users/octo-owner/events/public")).json()) == 1
    assert [e["actor"]["login"] for e in http.get(github.url("/users/fan/events")).json()] == ["fan"]
    push = public.json()[1]["payload"]
    assert sorted(push) == ["before", "head", "push_id", "ref", "repository_id"]


def test_enterprise_prefix(github_recordings: Loader) -> None:
    with GitHubStandIn.start(api_prefix="/api/v3") as enterprise:
        enterprise.add_repo("alpha")
        enterprise.add_events(40, "WatchEvent", "octo-owner/alpha")
        client = github_client(enterprise.api_url, enterprise.token)
        try:
            assert len(list(client.get_repo("octo-owner/alpha").get_events())) == 40
        finally:
            client.close()
        assert requests.get(enterprise.base_url + "/repos/octo-owner/alpha", timeout=5).status_code == 404
        assert enterprise.errors == []


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """Return a bare repository with one commit of `README.md`."""
    work = tmp_path / "work"
    assert _git("init", "-q", "-b", "main", str(work)).returncode == 0
    (work / "README.md").write_text("hello\n")
    _git("add", "README.md", cwd=work)
    assert (
        _git("-c", "user.name=T", "-c", "user.email=t@example.test", "commit", "-qm", "one", cwd=work).returncode == 0
    )
    assert _git("clone", "-q", "--bare", str(work), str(tmp_path / "alpha.git")).returncode == 0
    return tmp_path / "alpha.git"


def test_git_clone_over_http_needs_the_token(github: GitHubStandIn, bare_repo: Path, tmp_path: Path) -> None:
    repo = github.add_repo("alpha", git_dir=bare_repo)
    assert repo.clone_url == f"{github.base_url}/octo-owner/alpha.git"
    denied = _git("clone", repo.clone_url, str(tmp_path / "denied"))
    assert denied.returncode == 128
    assert "terminal prompts disabled" in denied.stderr
    wrong = base64.b64encode(b"x-access-token:ghp_wrongwrongwrongwrongwrongwrongwrong1").decode()
    assert (
        _git(
            "-c", f"http.extraheader=Authorization: Basic {wrong}", "clone", repo.clone_url, "w", cwd=tmp_path
        ).returncode
        == 128
    )
    good = base64.b64encode(f"x-access-token:{DEFAULT_TOKEN}".encode()).decode()
    cloned = _git("-c", f"http.extraheader=Authorization: Basic {good}", "clone", repo.clone_url, "ok", cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "ok" / "README.md").read_text() == "hello\n"
    assert DEFAULT_TOKEN not in denied.stderr + cloned.stderr
    assert [e.status for e in github.calls("/octo-owner/alpha.git")][:2] == [401, 401]
    assert github.calls("/octo-owner/alpha.git")[-1].status == 200
    assert github.charged_calls() == []

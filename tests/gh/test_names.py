"""GitHub's naming rules and the repository URL forms, as pure functions (no app, no database)."""

from __future__ import annotations

import re

import pytest

from gh.names import (
    NAME_PATTERN,
    OWNER_PATTERN,
    RefError,
    RepoRef,
    accepted_hosts,
    check_pair,
    name_problem,
    owner_problem,
    parse_url,
)

GITHUB_HOSTS = accepted_hosts("github.com", "https://api.github.com")
OWNER_CHARS = "Only ASCII letters, digits and single hyphens, not at the start or end (GitHub's rule)"
NAME_CHARS = "Only ASCII letters, digits, '.', '-' and '_' (GitHub's rule)"
ONE_REPO = "The URL must name exactly one repository: <host>/<owner>/<repository>"
BAD_PART = "The URL's owner or repository name is invalid: "
RESERVED = "'.' and '..' are reserved names"


@pytest.mark.parametrize(
    "owner", ["a", "A", "0", "octo", "octo-owner", "o-c-t-o", "Octo-Owner-2", "a" * 39, "1-2", "x" * 38 + "y"]
)
def test_valid_owners(owner: str) -> None:
    assert owner_problem(owner) is None
    assert re.fullmatch(OWNER_PATTERN, owner)


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ("", "Must not be empty"),
        ("a" * 40, "At most 39 characters (GitHub's limit for account names)"),
        ("-octo", OWNER_CHARS),
        ("octo-", OWNER_CHARS),
        ("oc--to", OWNER_CHARS),
        ("-", OWNER_CHARS),
        ("octo_owner", OWNER_CHARS),
        ("octo.owner", OWNER_CHARS),
        ("octo owner", OWNER_CHARS),
        (" octo", OWNER_CHARS),
        ("octo\n", OWNER_CHARS),
        ("octo\x00", OWNER_CHARS),
        ("ówner", OWNER_CHARS),  # unicode letter
        ("\uff4f\uff43\uff54\uff4f", OWNER_CHARS),  # fullwidth letters
        ("octo٣", OWNER_CHARS),  # Arabic-Indic digit: str.isdigit() but not ASCII
        ("🐙", OWNER_CHARS),
        ("..", OWNER_CHARS),
        ("../etc", OWNER_CHARS),
        ("octo/owner", OWNER_CHARS),
        ("%2e%2e", OWNER_CHARS),
        ("octo'; DROP TABLE projects;--", OWNER_CHARS),
        ("<script>", OWNER_CHARS),
        ("$(id)", OWNER_CHARS),
    ],
)
def test_invalid_owners(owner: str, message: str) -> None:
    assert owner_problem(owner) == message
    assert not re.fullmatch(OWNER_PATTERN, owner) or len(owner) > 39


@pytest.mark.parametrize(
    "name", ["a", "repo", "my-repo", "my_repo", "my.repo", ".github", "...", "a..b", "-", "_", "x" * 100, "v1.0.0"]
)
def test_valid_repository_names(name: str) -> None:
    assert name_problem(name) is None
    assert re.fullmatch(NAME_PATTERN, name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Must not be empty"),
        ("x" * 101, "At most 100 characters (GitHub's limit for repository names)"),
        (".", "'.' and '..' are reserved names"),
        ("..", "'.' and '..' are reserved names"),
        ("my repo", NAME_CHARS),
        ("répo", NAME_CHARS),
        ("repo\u200b", NAME_CHARS),  # zero-width space
        ("repo\t", NAME_CHARS),
        ("../../etc/passwd", NAME_CHARS),
        ("..%2f..%2fetc", NAME_CHARS),
        ("repo/sub", NAME_CHARS),
        ("repo\\sub", NAME_CHARS),
        ("repo'--", NAME_CHARS),
        ("repo;rm -rf", NAME_CHARS),
        ("a\x00b", NAME_CHARS),
        ("名前", NAME_CHARS),
    ],
)
def test_invalid_repository_names(name: str, message: str) -> None:
    assert name_problem(name) == message
    assert not re.fullmatch(NAME_PATTERN, name) or len(name) > 100


def test_check_pair_reports_each_bad_field() -> None:
    assert check_pair("octo", "repo") == RepoRef("octo", "repo")
    with pytest.raises(RefError) as caught:
        check_pair("-bad", ".")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("owner", OWNER_CHARS),
        ("repo_name", "'.' and '..' are reserved names"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/octo-owner/tracker",
        "https://github.com/octo-owner/tracker/",
        "https://github.com/octo-owner/tracker.git",
        "https://github.com/octo-owner/tracker.git/",
        "https://GitHub.com/octo-owner/tracker",
        "https://www.github.com/octo-owner/tracker",
        "http://github.com/octo-owner/tracker",
        "https://github.com/octo-owner/tracker?tab=readme-ov-file#install",
        "  https://github.com/octo-owner/tracker\n",
        "git@github.com:octo-owner/tracker.git",
        "git@github.com:octo-owner/tracker",
        "ssh://git@github.com/octo-owner/tracker.git",
    ],
)
def test_github_url_forms(url: str) -> None:
    assert parse_url(url, GITHUB_HOSTS) == RepoRef("octo-owner", "tracker")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Must not be empty"),
        ("https://gitlab.com/octo/repo", "Only repositories on github.com, www.github.com can be tracked"),
        ("https://github.com.evil.example/octo/repo", "Only repositories on github.com, www.github.com can be tracked"),
        ("https://api.github.com/repos/octo/repo", "Only repositories on github.com, www.github.com can be tracked"),
        ("git@gitlab.com:octo/repo.git", "Only repositories on github.com, www.github.com can be tracked"),
        ("https://github.com/octo", ONE_REPO),
        ("https://github.com/", ONE_REPO),
        ("https://github.com/octo/repo/tree/main", ONE_REPO),
        ("https://github.com/octo/../repo", ONE_REPO),
        ("https://github.com/octo//repo", ONE_REPO),
        ("https://github.com/octo/repo//", ONE_REPO),
        ("https://github.com/../repo", BAD_PART + OWNER_CHARS),
        (
            "https://github.com/octo/..",
            "The URL's owner or repository name is invalid: '.' and '..' are reserved names",
        ),
        ("https://github.com/octo/%2e%2e", BAD_PART + NAME_CHARS),
        ("https://github.com/ówner/repo", BAD_PART + OWNER_CHARS),
        ("https://github.com/octo/repo name", "A URL cannot contain spaces or control characters"),
        ("https://github.com/octo/re\x00po", "A URL cannot contain spaces or control characters"),
        ("https://user:ghp_secret@github.com/octo/repo", "The URL must not contain credentials"),
        ("https://ghp_secret@github.com/octo/repo", "The URL must not contain credentials"),
        ("ftp://github.com/octo/repo", "Use an https:// URL or git@<host>:<owner>/<repository>.git"),
        ("file:///tmp/octo/repo", "Use an https:// URL or git@<host>:<owner>/<repository>.git"),
        ("javascript:alert(1)", "Use an https:// URL or git@<host>:<owner>/<repository>.git"),
        ("octo/repo", "Use an https:// URL or git@<host>:<owner>/<repository>.git"),
        ("https://github.com:99999/octo/repo", "Not a valid URL"),
        ("https://github.com/" + "a" * 500, "At most 500 characters"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    with pytest.raises(RefError) as caught:
        parse_url(url, GITHUB_HOSTS)
    assert [(p.field, p.message) for p in caught.value.problems] == [("url", message)]
    assert "ghp_secret" not in str(caught.value)


def test_enterprise_and_standin_hosts() -> None:
    enterprise = accepted_hosts("ghe.example.com", "https://ghe.example.com/api/v3")
    assert enterprise == {"ghe.example.com"}
    assert parse_url("https://ghe.example.com/team/app.git", enterprise) == RepoRef("team", "app")
    assert parse_url("git@ghe.example.com:team/app.git", enterprise) == RepoRef("team", "app")
    with pytest.raises(RefError):
        parse_url("https://github.com/team/app", enterprise)
    standin = accepted_hosts("127.0.0.1:8123", "http://127.0.0.1:8123")
    assert parse_url("http://127.0.0.1:8123/octo/app", standin) == RepoRef("octo", "app")
    with pytest.raises(RefError):
        parse_url("http://127.0.0.1:8124/octo/app", standin)


# -- any git host ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "namespace", "name", "key"),
    [
        ("https://gitlab.com/group/sub/proj.git", "gitlab.com", "group/sub", "proj", "gitlab.com/group/sub/proj"),
        ("https://Codeberg.org/Me/Tool", "codeberg.org", "Me", "Tool", "codeberg.org/me/tool"),
        ("git@bitbucket.org:team/repo.git", "bitbucket.org", "team", "repo", "bitbucket.org/team/repo"),
        ("ssh://git@git.example:2222/a/b.git", "git.example:2222", "a", "b", "git.example:2222/a/b"),
    ],
)
def test_git_locations_on_any_host(url: str, host: str, namespace: str, name: str, key: str) -> None:
    from gh.names import parse_git_location

    location = parse_git_location(url, allow_local=False)
    assert (location.host, location.namespace, location.name, location.key, location.clone_url) == (
        host, namespace, name, key, url
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pw@gitlab.com/a/b.git", "must not contain credentials"),
        ("https://gitlab.com/onlyone", "must name a repository"),
        ("ftp://host/a/b", "Use an https://"),
        ("/srv/git/repo.git", "Local repositories are not allowed"),
        ("https://gitlab.com/a/../b", "must name a repository"),
    ],
)
def test_bad_git_locations(url: str, message: str) -> None:
    from gh.names import RefError, parse_git_location

    with pytest.raises(RefError, match=message.replace("(", r"\(")) as caught:
        parse_git_location(url, allow_local=False)
    assert "pw" not in str(caught.value)

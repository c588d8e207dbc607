"""Tests for the git mirror cache and the safe git runner (analysis/mirrors.py, analysis/gitcmd.py)."""

from __future__ import annotations

import base64
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analysis.gitcmd import GitAuth, GitError, base_env, check_clone_url, git_env, run_git
from analysis.mirrors import RepoCache, dir_size
from tests.fixtures_git import SampleHistory, hold_mirror
from tests.gitrepos import RepoBuilder

TOKEN = "ghp_" + "Z" * 36


class RecordingHandler(BaseHTTPRequestHandler):
    """Answer every request 404 and remember its Authorization header."""

    seen: list[str | None]

    def do_GET(self) -> None:
        self.server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    """Serve 404s on 127.0.0.1, recording Authorization headers in `server.seen`."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def forms_of(token: str) -> list[str]:
    """Return the token and the base64 forms it could be leaked in."""
    return [token, *(base64.b64encode(f"{user}:{token}".encode()).decode() for user in ("x-access-token", ""))]


# -- environment and runner ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "sent"),
    [
        ("https://github.com/o/r.git", "github.com", True),
        ("https://GitHub.com/o/r.git", "github.com", True),
        ("http://127.0.0.1:8080/o/r.git", "127.0.0.1:8080", True),
        ("https://github.com:443/o/r.git", "github.com", False),
        ("https://github.com.evil.test/o/r.git", "github.com", False),
        ("https://gitlab.com/o/r.git", "github.com", False),
        ("ssh://git@github.com/o/r.git", "github.com", False),
        ("git@github.com:o/r.git", "github.com", False),
        ("file:///srv/github.com/r.git", "github.com", False),
    ],
)
def test_git_env_sends_the_token_only_to_its_host(url: str, host: str, sent: bool) -> None:
    env = git_env(url, GitAuth(TOKEN, host))
    if not sent:
        assert env == {}
        return
    assert env["GIT_CONFIG_COUNT"] == "1" and env["GIT_CONFIG_KEY_0"] == "http.extraheader"
    scheme, value = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: ").split(" ")
    assert scheme == "Basic" and base64.b64decode(value).decode() == f"x-access-token:{TOKEN}"


def test_git_env_without_token_is_empty() -> None:
    assert git_env("https://github.com/o/r.git", GitAuth(None, "github.com")) == {}
    assert git_env("https://github.com/o/r.git", None) == {}
    assert TOKEN not in repr(GitAuth(TOKEN, "github.com"))


def test_base_env_neutralises_user_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    env = base_env()
    assert "GIT_DIR" not in env and "GIT_CONFIG_COUNT" not in env
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["LC_ALL"] == "C" and env["GIT_ASKPASS"]


@pytest.mark.parametrize(
    "url", [f"https://x-access-token:{TOKEN}@github.com/o/r.git", f"https://{TOKEN}@github.com/o/r"]
)
def test_urls_with_credentials_are_refused(url: str) -> None:
    with pytest.raises(GitError) as caught:
        check_clone_url(url)
    assert TOKEN not in str(caught.value)


def test_run_git_redacts_secrets_in_errors(tmp_path: Path) -> None:
    leaked = forms_of(TOKEN)
    with pytest.raises(GitError, match=r"git rev-parse failed \(exit 128\)") as caught:
        run_git(["rev-parse", "--verify", *leaked], cwd=tmp_path, auth_env=None, timeout=10, secrets=[TOKEN])
    assert not any(form in str(caught.value) for form in leaked)


def test_run_git_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(GitError, match=r"git nap timed out after 0.5 s"):
        run_git(["-c", "alias.nap=!sleep 30", "nap"], cwd=tmp_path, auth_env=None, timeout=0.5, secrets=())
    assert time.monotonic() - started < 5


def test_failing_clone_with_token_never_leaks_it(tmp_path: Path, http_server: ThreadingHTTPServer) -> None:
    host = f"127.0.0.1:{http_server.server_port}"
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30, secrets=["other-secret"])
    with (
        pytest.raises(GitError, match="git clone failed") as caught,
        cache.open("gh-1", f"http://{host}/o/r.git", GitAuth(TOKEN, host)),
    ):
        pass
    assert not any(form in str(caught.value) for form in forms_of(TOKEN))
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert http_server.seen and all(header == expected for header in http_server.seen)
    assert list((tmp_path / "cache" / "mirrors").iterdir()) == []


def test_token_is_not_sent_to_another_host(tmp_path: Path, http_server: ThreadingHTTPServer) -> None:
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30)
    url = f"http://127.0.0.1:{http_server.server_port}/o/r.git"
    with pytest.raises(GitError), cache.open("gh-1", url, GitAuth(TOKEN, "github.com")):
        pass
    assert http_server.seen and all(header is None for header in http_server.seen)


# -- cache behaviour -----------------------------------------------------------------------------


def test_open_clones_then_fetches_only_what_changed(repo_cache: RepoCache, sample_history: SampleHistory) -> None:
    repo = sample_history.repo
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "cloned"
        assert mirror.resolve_head(None) == mirror.resolve_head("main") == repo.head("main")
        assert mirror.resolve_head("feature") == repo.head("feature")
        assert mirror.default_branch() == "main"
        assert mirror.resolve_head("nope") is None
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "unchanged"
    repo.write("new.txt", "new\n")
    new = repo.commit("New commit")
    repo.publish()
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "fetched" and mirror.resolve_head() == new.sha


def test_fetch_follows_force_pushes_and_deleted_branches(repo_cache: RepoCache, sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    with repo_cache.open("gh-1", sample_history.url):
        pass
    repo.reset_hard(c["c2"].sha)
    repo.git("branch", "-D", "feature")
    repo.publish()
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "fetched"
        assert mirror.resolve_head("main") == mirror.resolve_head() == c["c2"].sha
        assert mirror.resolve_head("feature") is None


def test_head_follows_the_given_default_branch(repo_cache: RepoCache, sample_history: SampleHistory) -> None:
    repo = sample_history.repo
    with repo_cache.open("gh-1", sample_history.url, default_branch="feature") as mirror:
        assert mirror.action == "cloned" and mirror.default_branch() == "feature"
        assert mirror.resolve_head() == repo.head("feature")
    with repo_cache.open("gh-1", sample_history.url, default_branch="main") as mirror:
        assert mirror.action == "unchanged" and mirror.default_branch() == "main"
    with repo_cache.open("gh-1", sample_history.url, default_branch="missing") as mirror:
        assert mirror.default_branch() == "main"


def test_head_follows_a_renamed_default_branch(repo_cache: RepoCache, sample_history: SampleHistory) -> None:
    repo = sample_history.repo
    with repo_cache.open("gh-1", sample_history.url):
        pass
    repo.git("branch", "-m", "main", "trunk")
    run_git(["symbolic-ref", "HEAD", "refs/heads/trunk"], cwd=repo.bare, auth_env=None, timeout=10, secrets=())
    repo.publish()  # a mirror push: main is deleted upstream
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "fetched" and mirror.resolve_head("main") is None
        assert mirror.default_branch() == "trunk" and mirror.resolve_head() == repo.head("trunk")


def test_empty_repository(repo_cache: RepoCache, make_repo: Callable[[str], RepoBuilder]) -> None:
    repo = make_repo("empty")
    url = repo.publish()
    with repo_cache.open("gh-empty", url) as mirror:
        assert mirror.action == "cloned"
        assert mirror.resolve_head() is None and mirror.resolve_head("main") is None
        assert mirror.default_branch() == "main"
    with repo_cache.open("gh-empty", url) as mirror:
        assert mirror.action == "unchanged" and mirror.resolve_head() is None
    repo.write("a.txt", "a\n")
    first = repo.commit("First")
    repo.publish()
    with repo_cache.open("gh-empty", url) as mirror:
        assert mirror.action == "fetched" and mirror.resolve_head() == first.sha


@pytest.mark.parametrize("damage", ["objects", "pack", "half", "not-a-repo"])
def test_damaged_mirror_is_cloned_again(repo_cache: RepoCache, sample_history: SampleHistory, damage: str) -> None:
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        path = mirror.path
    if damage == "objects":
        _remove(path / "objects")
    elif damage == "pack":
        for pack in (path / "objects" / "pack").iterdir():
            pack.unlink()
    elif damage == "half":  # what a clone killed midway without the temp-dir rename would leave
        _remove(path)
        path.mkdir()
        (path / "HEAD").write_text("ref: refs/heads/main\n")
    else:
        _remove(path)
        path.mkdir()
        (path / "junk").write_text("x")
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "cloned"
        assert mirror.resolve_head() == sample_history.repo.head("main")


def test_leftovers_of_a_killed_clone_are_removed(repo_cache: RepoCache, sample_history: SampleHistory) -> None:
    stale = repo_cache.root / "tmp" / "gh-1" / "clone-deadbeef"
    stale.mkdir(parents=True)
    (stale / "HEAD").write_text("ref: refs/heads/main\n")
    with repo_cache.open("gh-1", sample_history.url) as mirror:
        assert mirror.action == "cloned"
    assert not stale.exists()


def test_failing_clone_leaves_nothing_behind(repo_cache: RepoCache, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="git clone failed"), repo_cache.open("gh-1", (tmp_path / "nope").as_uri()):
        pass
    assert list((repo_cache.root / "mirrors").iterdir()) == []
    assert not any((repo_cache.root / "tmp").rglob("HEAD"))


@pytest.mark.parametrize("key", ["", "../x", "a/b", ".hidden", "x" * 200, "a b"])
def test_invalid_keys_are_refused(repo_cache: RepoCache, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid mirror key"), repo_cache.open(key, tmp_path.as_uri()):
        pass


def test_two_processes_never_hold_the_same_mirror_at_once(tmp_path: Path, sample_history: SampleHistory) -> None:
    root, out = tmp_path / "cache", tmp_path / "held.txt"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=hold_mirror, args=(str(root), "gh-1", sample_history.url, 0.6, str(out)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    first, second = sorted(
        [float(entered), float(left), action] for entered, left, action in map(str.split, out.read_text().splitlines())
    )
    assert first[1] <= second[0], "the second process entered while the first held the lock"
    assert [first[2], second[2]] == ["cloned", "unchanged"]


def test_waiting_for_a_held_lock_times_out(tmp_path: Path, sample_history: SampleHistory) -> None:
    root = tmp_path / "cache"
    holder = RepoCache(root, max_bytes=1 << 30, git_timeout=30)
    impatient = RepoCache(root, max_bytes=1 << 30, git_timeout=30, lock_timeout=0.3)
    with (
        holder.open("gh-1", sample_history.url),
        pytest.raises(GitError, match="waiting for the lock of mirror gh-1"),
        impatient.open("gh-1", sample_history.url),
    ):
        pass


def test_eviction_removes_least_recently_used_first(tmp_path: Path, make_repo: Callable[[str], RepoBuilder]) -> None:
    urls = {key: _repo_with_bytes(make_repo(key), size) for key, size in (("a", 50_000), ("b", 50_000), ("c", 50_000))}
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30)
    for key in ("a", "b", "c"):
        with cache.open(key, urls[key]):
            pass
    sizes = {key: dir_size(cache.mirror_path(key)) for key in urls}
    _age(cache, {"a": 300, "b": 200, "c": 100})
    cache.max_bytes = sizes["b"] + sizes["c"] + 10
    with cache.open("c", urls["c"]):
        pass
    assert _present(cache) == {"b", "c"}
    assert dir_size(cache.root / "mirrors") <= cache.max_bytes


def test_eviction_skips_locked_mirrors_and_the_one_just_used(
    tmp_path: Path, make_repo: Callable[[str], RepoBuilder]
) -> None:
    urls = {key: _repo_with_bytes(make_repo(key), 30_000) for key in ("a", "b", "c")}
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30)
    for key in ("a", "b", "c"):
        with cache.open(key, urls[key]):
            pass
    _age(cache, {"a": 300, "b": 200, "c": 100})
    cache.max_bytes = 1  # nothing fits: only locked and just-used mirrors may stay
    with cache.open("a", urls["a"]):
        _age(cache, {"a": 300})
        with cache.open("c", urls["c"]):
            pass
        assert _present(cache) == {"a", "c"}  # b evicted; a is locked; c was just used
    assert _present(cache) == {"a"}  # after a's lock is released, c is the least recently used


def _repo_with_bytes(repo: RepoBuilder, size: int) -> str:
    """Commit one incompressible file of `size` bytes and publish; return the URL."""
    repo.write("blob.bin", os.urandom(size))
    repo.commit("Data")
    return repo.publish()


def _age(cache: RepoCache, seconds_ago: dict[str, int]) -> None:
    """Backdate the last-use stamps of mirrors."""
    now = time.time()
    for key, ago in seconds_ago.items():
        os.utime(cache.mirror_path(key) / "tracker-last-used", (now - ago, now - ago))


def _present(cache: RepoCache) -> set[str]:
    """Return the keys whose mirror is on disk."""
    return {path.name.removesuffix(".git") for path in (cache.root / "mirrors").iterdir()}


def _remove(path: Path) -> None:
    """Delete a directory tree."""
    shutil.rmtree(path)


def test_a_fetch_from_a_new_url_records_it(repo_cache: RepoCache, sample_history: SampleHistory,
                                           tmp_path: Path) -> None:  # fmt: skip
    def remote_url(path: Path) -> str:
        done = run_git(["config", "--get", "remote.origin.url"], cwd=path, auth_env=None, timeout=10, secrets=())
        return done.stdout.decode().strip()

    with repo_cache.open("gh-1", sample_history.url) as mirror:
        path = mirror.path
    assert remote_url(path) == sample_history.url
    moved = tmp_path / "moved.git"  # e.g. the repository was renamed
    shutil.copytree(sample_history.repo.bare, moved)
    sample_history.repo.git("push", "-q", str(moved), f"{sample_history.repo.commit('Moved').sha}:refs/heads/main")
    with repo_cache.open("gh-1", moved.as_uri()) as mirror:
        assert mirror.action == "fetched"
    assert remote_url(path) == moved.as_uri()

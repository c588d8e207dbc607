"""Clone URL trust (policy, protocols, no redirects), cache size before a clone, early EOF, redaction bound."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analysis.gitcmd import GitAuth, GitError, UrlPolicy, remote_options
from analysis.mirrors import RepoCache, dir_size, looks_corrupt
from tests.gitrepos import RepoBuilder

POLICY = UrlPolicy("github.com")


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/o/r.git",
        "https://GitHub.com/o/r",
    ],
)
def test_policy_accepts_https_on_the_git_host(url: str) -> None:
    POLICY.check(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://github.com/o/r.git", "refusing clone URL on http://github.com: only https://github.com is trusted"),
        ("https://evil.example/o/r.git", "refusing clone URL on https://evil.example: only https://github.com"),
        ("https://github.com:8443/o/r.git", "refusing clone URL on https://github.com: only https://github.com"),
        ("ssh://git@github.com/o/r.git", "refusing clone URL on ssh://github.com: only https://github.com"),
        ("git://github.com/o/r.git", "refusing clone URL on git://github.com"),
        ("ext::sh -c touch% /tmp/pwned", "refusing clone URL on ext://"),
        ("file:///tmp/r.git", "refusing a local clone URL (file://): set GIT_ALLOW_FILE_URLS to allow it"),
        ("/tmp/r.git", "refusing a local clone URL (file://)"),
        ("github.com:o/r.git", "refusing clone URL on github.com://: only https://github.com"),
        ("https://x-access-token:t@github.com/o/r.git", "refusing clone URL with embedded credentials"),
    ],
)
def test_policy_refuses_everything_else(url: str, message: str) -> None:
    with pytest.raises(GitError) as caught:
        POLICY.check(url)
    assert str(caught.value).startswith(message)


def test_file_urls_only_when_allowed_and_protocols_follow() -> None:
    UrlPolicy("github.com", allow_file=True).check("file:///tmp/r.git")
    assert UrlPolicy("github.com").env() == {"GIT_ALLOW_PROTOCOL": "https"}
    assert UrlPolicy("127.0.0.1:9", "http", allow_file=True).env() == {"GIT_ALLOW_PROTOCOL": "http:file"}


def test_remote_options_never_follow_redirects() -> None:
    assert remote_options("https://github.com/o/r.git")[-2:] == ["-c", "http.followRedirects=false"]
    assert remote_options("file:///tmp/r.git") == []


def test_cache_refuses_an_untrusted_url_before_running_git(tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30, policy=POLICY)
    with pytest.raises(GitError, match="refusing a local clone URL"), cache.open("k", (tmp_path / "r").as_uri()):
        pass
    assert not cache.mirror_path("k").exists()


def test_protocol_allow_stops_git_even_past_the_check(tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "r")
    repo.write("a.py", "a = 1\n")
    repo.commit("a")
    url = repo.publish()
    # A policy for http on some host, which never allows file: git itself refuses the transport.
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30)
    env = UrlPolicy("127.0.0.1:9", "http").env()
    cache._remote_env = lambda _url, _auth: env  # type: ignore[method-assign]
    with pytest.raises(GitError, match="transport 'file' not allowed"), cache.open("k", url):
        pass


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with a redirect (`location` set) or 200, recording the headers it saw."""

    location: str | None = None
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers.items()))
        if self.location:
            self.send_response(302)
            self.send_header("Location", self.location + self.path)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    def start(location: str | None) -> ThreadingHTTPServer:
        handler = type("H", (_Recorder,), {"location": location, "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    elsewhere = start(None)
    redirecting = start(f"http://127.0.0.1:{elsewhere.server_address[1]}")
    yield redirecting, elsewhere
    for server in (redirecting, elsewhere):
        server.shutdown()
        server.server_close()


def test_the_token_never_follows_a_redirect(tmp_path: Path, servers: tuple[ThreadingHTTPServer, ...]) -> None:
    redirecting, elsewhere = servers
    host = f"127.0.0.1:{redirecting.server_address[1]}"
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30, policy=UrlPolicy(host, "http"))
    token = "redirect-secret-token"
    with pytest.raises(GitError) as caught, cache.open("k", f"http://{host}/o/r.git", GitAuth(token, host)):
        pass
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert redirecting.RequestHandlerClass.seen[0]["Authorization"] == f"Basic {basic}"
    assert elsewhere.RequestHandlerClass.seen == []  # git did not follow the redirect at all
    assert token not in str(caught.value) and basic not in str(caught.value)
    assert not cache.mirror_path("k").exists()


def test_a_repository_larger_than_the_cache_is_not_cloned(tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache", max_bytes=10 * 1024**2, git_timeout=30)
    with pytest.raises(GitError) as caught, cache.open("k", "file:///nonexistent.git", expected_bytes=11 * 1024**2):
        pass
    assert str(caught.value) == "repository is 11 MB, larger than the mirror cache (10 MB, CACHE_MAX_GB): not cloned"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_room_is_made_before_a_clone(tmp_path: Path) -> None:
    urls = []
    for name in ("old", "new"):
        repo = RepoBuilder(tmp_path / name)
        repo.write("a.py", f"{name} = 1\n")
        repo.commit(name)
        urls.append(repo.publish())
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=30)
    with cache.open("old", urls[0]):
        pass
    # The old mirror fits alone, and so would the new one, but not both.
    old_size = dir_size(cache.mirror_path("old"))
    cache.max_bytes = 2 * old_size
    with cache.open("new", urls[1], expected_bytes=old_size + old_size // 2) as mirror:
        assert not cache.mirror_path("old").exists()  # evicted before the clone, not after
        assert mirror.path.exists()


@pytest.mark.parametrize(
    ("message", "corrupt"),
    [
        (
            "git fetch failed (exit 128): error: RPC failed; curl 18 transfer closed\nfatal: early EOF\n"
            "fatal: fetch-pack: invalid index-pack output",
            False,
        ),
        ("fatal: the remote end hung up unexpectedly\nfatal: early EOF\nfatal: index-pack failed", False),
        ("fatal: unexpected disconnect while reading sideband packet", False),
        ("error: inflate: data stream error (incorrect header check)\nfatal: loose object abc is corrupt", True),
        ("fatal: bad object refs/heads/main", True),
        ("fatal: packfile .git/objects/pack/x.pack cannot be accessed", True),
    ],
)
def test_early_eof_is_a_network_failure_not_a_corrupt_mirror(message: str, corrupt: bool) -> None:
    assert looks_corrupt(message) is corrupt


def test_url_redaction_is_linear_on_long_input() -> None:
    # The unbounded scheme pattern needs about n²/2 steps on n letters: 2 MB would take hours.
    # Run it in a child with a CPU-time limit so a regression fails instead of hanging the suite.
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_CPU, (60, 60))\n"
        "from infra.redaction import redact\n"
        "text = 'a' * 2_000_000 + ' https://user:pw@host/x ' + 'b://' * 200_000\n"
        "out = redact(text)\n"
        "assert out.count('https://***@host/x') == 1 and 'pw' not in out\n"
        "print(len(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, cwd=Path(__file__).parents[2], check=False, timeout=600
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.strip() == str(2_000_000 + len(" https://***@host/x ") + 800_000).encode()

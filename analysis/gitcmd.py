"""Run git safely: a neutral environment, tokens only through the environment, redacted errors."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from infra import telemetry
from infra.redaction import redact

# Environment variables passed through to git: proxies and CA bundles, nothing that changes results.
PASSTHROUGH_ENV = (
    "PATH",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)


class GitError(Exception):
    """A git command failed or timed out; the message is already redacted."""


@dataclass(frozen=True)
class GitAuth:
    """A token sent to git only for http(s) remotes on `host` (host[:port], as in the clone URL)."""

    token: str | None = field(repr=False)
    host: str


def base_env() -> dict[str, str]:
    """Return an environment that makes git ignore user/system config, never prompt and speak C."""
    env = {name: os.environ[name] for name in PASSTHROUGH_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": os.devnull,
            "XDG_CONFIG_HOME": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "false",
            "SSH_ASKPASS": "false",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
            "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
            "GIT_NO_REPLACE_OBJECTS": "1",
        }
    )
    return env


def is_http(url: str) -> bool:
    """Tell whether a clone URL uses http or https."""
    return urlsplit(url).scheme.lower() in {"http", "https"}


def git_env(clone_url: str, auth: GitAuth | None) -> dict[str, str]:
    """Return the variables that give git the token, or {} unless the URL is http(s) on auth.host."""
    if auth is None or not auth.token or not is_http(clone_url):
        return {}
    parts = urlsplit(clone_url)
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    if netloc != auth.host.lower():
        return {}
    basic = base64.b64encode(f"x-access-token:{auth.token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraheader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def remote_options(clone_url: str) -> list[str]:
    """Return `-c` options that make a stalled http(s) transfer fail instead of hanging."""
    if not is_http(clone_url):
        return []
    return ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]


def check_clone_url(clone_url: str) -> None:
    """Refuse a URL that carries credentials or could be read as an option."""
    parts = urlsplit(clone_url)
    if clone_url.startswith("-") or not clone_url.strip():
        raise GitError("refusing clone URL: empty or starts with '-'")
    if parts.password is not None or (is_http(clone_url) and parts.username is not None):
        raise GitError("refusing clone URL with embedded credentials; pass a GitAuth instead")


def command_name(args: list[str]) -> str:
    """Return the git subcommand in an argument list, skipping `-c name=value` pairs."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in {"-c", "-C"}:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return "?"


def trace_name(argv: list[str]) -> str:
    """Name a command for a trace: the program, and git's subcommand (never paths, URLs or options)."""
    program = os.path.basename(argv[0]) if argv else "?"
    return f"git {command_name(argv[1:])}" if program == "git" else program


def run_process(
    argv: list[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: dict[str, str],
    timeout: float,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capturing output; on timeout kill its whole process group and raise TimeoutExpired.

    Unlike subprocess.run, which kills only the child, this also kills helpers the child started
    (git-remote-https, index-pack, cloc's workers) that would otherwise keep our pipes open.
    """
    command = trace_name(argv)  # never the arguments: they may hold paths and URLs
    with (
        telemetry.span(f"exec {command}", **{"process.command": command}),
        subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc,
    ):
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def run_git(
    args: list[str],
    *,
    cwd: str | os.PathLike[str] | None,
    auth_env: dict[str, str] | None,
    timeout: float,
    secrets: Iterable[str],
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` and return its output; raise GitError (redacted) on timeout or failure."""
    name = command_name(args)
    try:
        result = run_process(["git", *args], cwd=cwd, env=base_env() | (auth_env or {}), timeout=timeout, input=input)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {name} timed out after {timeout:g} s") from None
    except OSError as error:
        raise GitError(f"cannot run git: {error}") from None
    if check and result.returncode != 0:
        detail = redact(result.stderr.decode("utf-8", "replace").strip(), list(secrets))
        raise GitError(f"git {name} failed (exit {result.returncode}): {detail}")
    return result


@dataclass(frozen=True)
class Mirror:
    """A bare repository on disk that git commands can read (held under its lock while in use)."""

    path: Path
    timeout: float = 900.0
    secrets: tuple[str, ...] = ()
    action: str = "local"  # what open() did: "cloned", "fetched" or "unchanged"

    def git(
        self, args: list[str], *, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a local (no network) git command in this repository."""
        # --git-dir stops git from walking up into an enclosing repository if this one is damaged.
        return run_git(
            [f"--git-dir={self.path}", *args],
            cwd=self.path,
            auth_env=None,
            timeout=self.timeout,
            secrets=self.secrets,
            input=input,
            check=check,
        )

    def resolve_head(self, branch: str | None = None) -> str | None:
        """Return the sha of refs/heads/<branch> (or of HEAD), or None when it does not exist."""
        ref = "HEAD" if branch is None else f"refs/heads/{branch}"
        result = self.git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], check=False)
        sha = result.stdout.decode().strip()
        return sha if result.returncode == 0 and sha else None

    def default_branch(self) -> str | None:
        """Return the branch the remote's HEAD points to, or None when unknown."""
        result = self.git(["symbolic-ref", "--quiet", "HEAD"], check=False)
        ref = result.stdout.decode().strip()
        return ref.removeprefix("refs/heads/") if result.returncode == 0 and ref.startswith("refs/heads/") else None

    def heads(self) -> dict[str, str]:
        """Return {refs/heads/<name>: sha} for every local branch."""
        out = self.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"]).stdout.decode()
        return dict(line.split(" ", 1) for line in out.splitlines() if line)


def as_mirror(repo: Mirror | str | os.PathLike[str]) -> Mirror:
    """Return `repo` as a Mirror: a bare repository path, or a working tree whose .git is used."""
    if isinstance(repo, Mirror):
        return repo
    path = Path(repo)
    return Mirror(path / ".git" if (path / ".git").is_dir() else path)

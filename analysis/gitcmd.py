"""Run git safely: a neutral environment, tokens only through the environment, redacted errors."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from analysis.limits import NO_LIMITS as NO_LIMITS
from analysis.limits import Limits as Limits
from analysis.limits import kill_group
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
    "LD_LIBRARY_PATH",  # where Heroku's apt buildpack puts the libraries of git (and GIT_MALLOC's)
)


# Default size above which a file is binary: not diffed (no churn) and not counted (no LOC).
BIG_FILE_BYTES = 8 * 1024 * 1024
# The threshold of a retry after git ran out of memory under its address-space limit.
FALLBACK_BIG_FILE_BYTES = 1024 * 1024
log = logging.getLogger(__name__)


# Messages of a cut transfer ("early EOF" and friends): looks_corrupt never reads them as
# a damaged mirror, though they also mention index-pack ("fetch-pack: invalid index-pack output").
NETWORK_HINTS = (
    "early eof",
    "unexpected disconnect",
    "the remote end hung up",
    "rpc failed",
    "connection reset",
    "connection timed out",
    "operation too slow",
    "could not resolve host",
    "failed to connect",
    "transfer closed",
    "gnutls recv error",
    "ssl read",
)


# stderr fragments by which git reports a damaged repository (as opposed to a network or auth failure).
CORRUPTION_HINTS = (
    "bad object",
    "corrupt",
    "not a git repository",
    "did not send all necessary objects",
    "unable to read",
    "missing blob",
    "missing tree",
    "missing commit",
    "loose object",
    "packfile",
    "index-pack",
    "invalid object",
    "unresolved deltas",
)


def looks_corrupt(message: str) -> bool:
    """Tell whether a git error message points at a damaged local repository."""
    lowered = message.lower()
    if any(hint in lowered for hint in NETWORK_HINTS):
        return False
    return any(hint in lowered for hint in CORRUPTION_HINTS)


class GitError(Exception):
    """A git command failed or timed out; the message is already redacted."""


# What git says of a full disk or quota, and of a write past the CACHE_MAX_GB file-size limit (SIGXFSZ ignored)
NO_SPACE = ("no space left on device", "file too large", "disk quota exceeded")


def out_of_space(error: GitError) -> GitError | None:
    """Return a clear error when a git write failed for want of space (disk, quota, CACHE_MAX_GB), else None."""
    if not any(words in str(error).lower() for words in NO_SPACE):
        return None
    return GitError(
        "Out of disk space while cloning into the mirror cache (disk full, or a file reached CACHE_MAX_GB); "
        f"the partial clone was removed. {error}"
    )


@dataclass(frozen=True)
class GitAuth:
    """A token sent to git only for http(s) remotes on `host` (host[:port], as in the clone URL)."""

    token: str | None = field(repr=False)
    host: str


def base_env(limits: Limits = NO_LIMITS) -> dict[str, str]:
    """Return an environment that makes git ignore user/system config, never prompt, speak C (limits' malloc)."""
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
            "GIT_ALLOW_PROTOCOL": "file:http:https",  # narrowed per remote by UrlPolicy.env()
            "GIT_NO_REPLACE_OBJECTS": "1",
            # Each thread's malloc arena reserves address space; few arenas keep RLIMIT_AS meaningful.
            "MALLOC_ARENA_MAX": "2",
        }
    )
    return env | limits.git_env()


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
    """Return `-c` options that make a stalled http(s) transfer fail and never follow a redirect.

    With redirects followed, git would send the Authorization header (http.extraheader) to
    wherever the server points it.
    """
    if not is_http(clone_url):
        return []
    return ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60", "-c", "http.followRedirects=false"]


@dataclass(frozen=True)
class UrlPolicy:
    """Which clone URLs are trusted: `scheme`://`host`/… only, plus local ones when allow_file.

    `scheme` is https in production; the plain-http GitHub stand-in of the tests uses http.
    """

    host: str
    scheme: str = "https"
    allow_file: bool = False

    def check(self, clone_url: str) -> None:
        """Raise GitError unless `clone_url` is one this policy trusts."""
        check_clone_url(clone_url)
        parts = urlsplit(clone_url)
        scheme = parts.scheme.lower()
        if scheme == "file" or (not scheme and clone_url.startswith("/")):
            if self.allow_file:
                return
            raise GitError("refusing a local clone URL (file://): set GIT_ALLOW_FILE_URLS to allow it")
        if scheme != self.scheme or parts.netloc.lower() != self.host.lower():
            shown = f"{scheme}://{parts.hostname or ''}" if scheme else "a URL without a scheme"
            raise GitError(f"refusing clone URL on {shown}: only {self.scheme}://{self.host} is trusted")

    def env(self) -> dict[str, str]:
        """Return the GIT_ALLOW_PROTOCOL that lets git use only this policy's transports."""
        allowed = [self.scheme, *(["file"] if self.allow_file else [])]
        return {"GIT_ALLOW_PROTOCOL": ":".join(allowed)}


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
    limits: Limits = NO_LIMITS,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, capturing output; on timeout kill its whole process group and raise TimeoutExpired.

    Unlike subprocess.run, which kills only the child, this also kills helpers the child started
    (git-remote-https, index-pack, cloc's workers) that would otherwise keep our pipes open.
    `limits` apply to the child and, inherited, to everything it starts (the preexec function
    only calls setrlimit, which is safe between fork and exec even with other threads running).
    """
    command = trace_name(argv)  # never the arguments: they may hold paths and URLs
    argv, preexec = limits.command(argv, timeout)
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
            preexec_fn=preexec,
        ) as proc,
    ):
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
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
    limits: Limits = NO_LIMITS,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` and return its output; raise GitError (redacted) on timeout or failure."""
    name = command_name(args)
    env = base_env(limits) | (auth_env or {})
    try:
        result = run_process(["git", *args], cwd=cwd, env=env, timeout=timeout, input=input, limits=limits)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {name} timed out after {timeout:g} s") from None
    except OSError as error:
        raise GitError(f"cannot run git: {error}") from None
    if check and result.returncode != 0:
        detail = redact(result.stderr.decode("utf-8", "replace").strip(), list(secrets))
        raise GitError(f"git {name} failed (exit {result.returncode}){killed_by(result.returncode)}: {detail}")
    return result


def killed_by(returncode: int) -> str:
    """Describe a death by resource limit (SIGXCPU, SIGXFSZ, SIGKILL, SIGSEGV from a failed mmap)."""
    names = {
        -signal.SIGXCPU: "CPU time limit",
        -signal.SIGXFSZ: "file size limit",
        -signal.SIGKILL: "killed",
        -signal.SIGSEGV: "crashed, memory limit?",
    }
    return f" [{names[returncode]}]" if returncode in names else ""


@dataclass(frozen=True)
class Mirror:
    """A bare repository on disk that git commands can read (held under its lock while in use)."""

    path: Path
    timeout: float = 900.0
    secrets: tuple[str, ...] = ()
    action: str = "local"  # what open() did: "cloned", "partial", "fetched" or "unchanged"
    # Variables that let git reach the remote (the token) when a partial mirror fetches missing objects.
    remote_env: dict[str, str] | None = field(default=None, repr=False, compare=False, hash=False)
    # Files larger than this are binary to git (numstat "-\t-"), so no diff ever loads them.
    big_file_bytes: int = BIG_FILE_BYTES
    limits: Limits = NO_LIMITS
    # Whether the mirror was cloned with a blob filter, when its opener knows it (None: ask git).
    blobless: bool | None = field(default=None, compare=False)

    def git(
        self, args: list[str], *, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a local (no network) git command in this repository."""
        # --git-dir stops git from walking up into an enclosing repository if this one is damaged.
        # Small pack windows keep mmap'ed packs from eating the address-space limit.
        options = ["-c", f"core.bigFileThreshold={self.big_file_bytes}", *self.limits.git_options()]
        try:
            return run_git(
                [f"--git-dir={self.path}", *options, *args],
                cwd=self.path,
                auth_env=self.remote_env,
                timeout=self.timeout,
                secrets=self.secrets,
                input=input,
                check=check,
                limits=self.limits,
            )
        except GitError as error:
            # A file just under the threshold can still need more memory than the limit allows
            # (git's diff holds about 45 bytes per line): retry once with a small threshold, so
            # one such file never blocks its repository.
            if "out of memory" not in str(error).lower() or self.big_file_bytes <= FALLBACK_BIG_FILE_BYTES:
                raise
            log.warning("%s; retrying with files over %d bytes as binary", error, FALLBACK_BIG_FILE_BYTES)
            return replace(self, big_file_bytes=FALLBACK_BIG_FILE_BYTES).git(args, input=input, check=check)

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

    def head_ref(self) -> str:
        """Return the ref HEAD points to ("" when detached or unreadable), from the HEAD file when it is one."""
        try:
            text = (self.path / "HEAD").read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.startswith("ref: refs/"):
            return text.removeprefix("ref: ")
        return self.git(["symbolic-ref", "--quiet", "HEAD"], check=False).stdout.decode().strip()

    def checked_heads(self) -> dict[str, str] | None:
        """Return the branch heads like `heads`, or None when one of them is not a commit here (damage)."""
        # %(objecttype) reads each head's object: a missing one fails the command.
        listing = ["for-each-ref", "--format=%(objecttype) %(refname) %(objectname)", "refs/heads/"]
        done = self.git(listing, check=False)
        if done.returncode != 0:
            return None
        heads = {}
        for line in done.stdout.decode().splitlines():
            kind, _, rest = line.partition(" ")
            if kind != "commit":
                return None
            name, _, sha = rest.partition(" ")
            heads[name] = sha
        return heads

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

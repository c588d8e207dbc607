"""Refresh one project: GitHub metadata and languages, then history and LOC from its git mirror.

Work that can be skipped is skipped: metadata fresh from this refresh's discovery costs no
call, conditional requests make unchanged resources free, an unchanged HEAD costs no log
and no count, and a new HEAD costs only the new commits and the blobs not counted before.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from analysis import loc, metrics
from analysis.gitcmd import GitAuth, GitError, Limits, Mirror, UrlPolicy
from analysis.limits import preloadable
from analysis.mirrors import RepoCache
from gh.access import github_client
from gh.cache import DbConditionalCache
from gh.gitlab import GitLabClient, api_origin, gitlab_governor, is_gitlab_host
from infra.extensions import db
from infra.runtime import runtime
from models import KIND_GIT, Project, RepoUpdate, utcnow
from refresh import commit_sync, resets, unchanged
from refresh.blob_store import DbBlobStore
from refresh.metadata import apply_gitlab_project, apply_languages, apply_repository, history_updates
from settings import Settings

log = logging.getLogger(__name__)
EMPTY_REPOSITORY = "Repository is empty: no commits on its default branch"


class RepositoryError(Exception):
    """A repository cannot be refreshed; the message is safe to store and show."""


@dataclass(frozen=True)
class Outcome:
    status: str  # "done" | "skipped"
    note: str | None = None


def repo_cache(settings: Settings, *, trust_github_host: bool = True) -> RepoCache:
    """Return the mirror cache: trusted clone URLs only, children under resource limits.

    GitHub's clone URLs must be https on the configured git host. A repository of another git
    host (kind "git") keeps the URL its owner added, checked by gh.names when it was added.
    """
    max_bytes = int(settings.cache_max_gb * 1024**3)
    scheme = urlsplit(settings.github_api_url).scheme.lower()
    allow_file = settings.git_allow_file_urls or settings.allow_local_repositories
    return RepoCache(
        root=Path(settings.cache_dir),
        max_bytes=max_bytes,
        git_timeout=settings.git_timeout_seconds,
        secrets=settings.secrets(),
        policy=UrlPolicy(settings.github_git_host, scheme, allow_file) if trust_github_host else None,
        limits=child_limits(settings),
        big_file_bytes=settings.large_file_bytes,
    )


def child_limits(settings: Settings) -> Limits:
    """Return the limits of git and cloc: the worker's memory, the cache's size for any file written;
    and git's malloc (GIT_MALLOC), when it can be preloaded here."""
    memory, disk = settings.max_worker_memory_mb * 1024**2, int(settings.cache_max_gb * 1024**3)
    malloc = settings.git_malloc if preloadable(settings.git_malloc) else None
    return Limits(address_bytes=memory, file_bytes=disk, malloc=malloc)


def mirror_key(project: Project) -> str:
    if project.github_id:
        return f"gh-{project.github_id}"
    return "name-" + re.sub(r"[^A-Za-z0-9._-]", "_", project.full_name_key)


def refresh_metadata(project: Project, fresh_since: datetime | None) -> list[RepoUpdate]:
    """Update GitHub metadata; an unchanged repository answers 304 and costs nothing.

    Metadata already read from the account's repository list by this refresh's discovery
    (`fresh_since`) is not fetched again.
    """
    checked = project.metadata_checked_at
    if fresh_since is not None and checked is not None and checked >= fresh_since:
        return []
    gh = github_client()
    if project.github_id:
        return apply_repository(project, gh.get_repository_by_id(project.github_id))
    return apply_repository(project, gh.get_repository(project.owner, project.name))


class Languages:
    """GitHub's languages of a project, asked once: while cloc counts if a count runs, else after git."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.updates: list[RepoUpdate] | None = None

    def ask(self) -> None:
        if self.updates is None:
            gh = github_client()
            self.updates = apply_languages(self.project, gh.get_languages(self.project.owner, self.project.name))


def refresh_gitlab_metadata(project: Project, settings: Settings) -> list[RepoUpdate]:
    """Update stars, forks, description, default branch and visibility from the project's GitLab host.

    A 304 whose stored body this project already holds (fetched before its last metadata update)
    is not processed again; one stored by a refresh that did not commit is applied now.
    """
    host = (project.host or "").lower()
    client = GitLabClient(settings, host, api_origin(host, project.clone_url), cache=DbConditionalCache(),
                          governor=gitlab_governor(host))  # fmt: skip
    answer = client.get_project(f"{project.owner}/{project.name}")
    checked = project.metadata_checked_at
    if answer.not_modified and checked is not None and answer.fetched_at <= checked:
        return []
    return apply_gitlab_project(project, answer.data)


def refresh_project(project: Project, fresh_since: datetime | None = None) -> Outcome:
    """Refresh everything about one project and commit it in one transaction.

    Nothing of the project is flushed before that commit: its row stays unlocked while git and the
    APIs work (minutes for a long history), so a webhook delivery or an edit never waits on it.
    """
    with db.session.no_autoflush:
        outcome = _refresh(project, fresh_since)
    db.session.commit()
    return outcome


def _refresh(project: Project, fresh_since: datetime | None) -> Outcome:
    settings = runtime().settings
    generation = project.history_generation or 0
    github = project.kind != KIND_GIT  # a repository of any other git host: git alone, no API
    _start_cloc(project, settings)  # the discovery of a full refresh read pushed_at just now
    languages = Languages(project) if github else None
    if github:
        updates = refresh_metadata(project, fresh_since)
    elif is_gitlab_host(settings, project.host):
        updates = refresh_gitlab_metadata(project, settings)
    else:
        updates = []
    if not project.clone_url:
        raise RepositoryError("GitHub gave no clone URL for this repository")
    _start_cloc(project, settings)  # pushed_at read by the metadata call
    if languages is not None and db.engine.dialect.name == "sqlite":
        # SQLite has one writer: the answer's cache entry (its own transaction) must be written
        # before this job's session writes anything, as it is here.
        languages.ask()
    auth = _auth(project, settings)
    outcome = _refresh_history(project, settings, auth, updates, complete=False, languages=languages)
    if outcome is None:  # the partial mirror cannot answer (rules changed, history rewritten)
        outcome = _refresh_history(project, settings, auth, updates, complete=True, languages=languages)
    if languages is not None:
        languages.ask()
        updates += languages.updates or []
    project.last_refreshed_at = utcnow()
    project.last_error = outcome.note
    db.session.add_all(updates)
    try:
        resets.check_not_reset(project.id, generation)
    except resets.HistoryReset as error:
        raise RepositoryError(str(error)) from None
    return outcome


def _auth(project: Project, settings: Settings) -> GitAuth:
    """Return the credentials git may send: the GitHub token for GitHub, the host's own token otherwise."""
    if project.kind != KIND_GIT:
        return GitAuth(token=settings.github_token, host=settings.github_git_host)
    host = (project.host or "").lower()
    return GitAuth(token=settings.host_tokens().get(host), host=host)


def _start_cloc(project: Project, settings: Settings) -> None:
    """Start this process's cloc server when a push since the last analysis will likely need a count.

    It starts cloc (about 0.2 s, once per process) while git fetches the new commits.
    """
    if project.loc_head_sha is None or project.pushed_at is None or project.pushed_at == project.synced_pushed_at:
        return  # first count (large: see _count_snapshot), or nothing pushed
    loc.start_cloc(settings.cloc_path, limits=child_limits(settings), max_bytes=settings.large_file_bytes)


def _refresh_history(
    project: Project,
    settings: Settings,
    auth: GitAuth,
    updates: list[RepoUpdate],
    *,
    complete: bool,
    languages: Languages | None = None,
) -> Outcome | None:
    """Analyse the project in its mirror: a partial one reaching the stored HEAD when none is on disk.

    Return None when a partial mirror does not hold what the analysis needs; `complete` then
    replaces it by a complete mirror.
    """
    known = None if complete else project.head_sha
    since = commit_sync.head_committed_at(project) if known else None
    cache = repo_cache(settings, trust_github_host=project.kind != KIND_GIT)
    expected = int((project.size_kb or 0) * 1024)  # GitHub's `size`, checked before a clone
    key, url, blobs = mirror_key(project), project.clone_url or "", DbBlobStore(db.engine, deferred=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pt-loc-early") as early_pool:
        early = None
        # A whole history to clone (and not one the cache refuses): count its tip's tree meanwhile.
        if known is None and not cache.mirror_path(key).exists() and expected <= cache.max_bytes:
            early = early_pool.submit(copy_context().run, _count_snapshot, cache, key, url, auth,
                                      project.default_branch, settings, blobs)  # fmt: skip
        with cache.open(key, url, auth, known_head=known, since=since, complete=complete,
                        expected_bytes=expected) as mirror:  # fmt: skip
            head = mirror.resolve_head(project.default_branch)
            if head is None:
                _empty(project)
                return Outcome("skipped", EMPTY_REPOSITORY)
            rules = commit_sync.fingerprint(settings.excluded_dirs, mirror, head)
            if not complete and not commit_sync.usable_partial(project, mirror, head, rules):
                return None
            updates += analyse(project, mirror, head, settings, rules, blobs=blobs, early=early, meanwhile=languages)
            if project.kind == KIND_GIT:  # no GitHub languages: the primary language comes from LOC
                project.primary_language = metrics.primary_language(project.loc_by_language or {})
            unchanged.mark_synced(project, settings)
            return Outcome("done")


def _count_snapshot(cache: RepoCache, key: str, url: str, auth: GitAuth, branch: str | None, settings: Settings,
                    blobs: DbBlobStore) -> tuple[str, loc.LocResult] | None:  # fmt: skip
    """Count the LOC of the branch's tip from a depth-1 clone, while the whole history is cloned.

    The clone spends most of its time indexing the pack on one core; cloc runs on the other.
    None when the snapshot cannot be taken (the complete mirror is counted then, as without it).
    """
    try:
        with cache.snapshot(key, url, auth, branch) as snapshot:
            head = snapshot.resolve_head(branch)
            if head is None:
                return None
            return head, loc.count_tree(snapshot, head, settings.excluded_dirs, blobs, cloc_path=settings.cloc_path)
    except (GitError, loc.LocError, OSError) as error:
        log.info("%s: no early LOC count (%s); counting after the clone", key, error)
        return None


def _count(mirror: Mirror, head: str, settings: Settings, blobs: DbBlobStore,
           early: Future[tuple[str, loc.LocResult] | None] | None) -> loc.LocResult:  # fmt: skip
    """Return the LOC of `head`: the early count when it counted that commit, else a count now."""
    done = early.result() if early is not None else None
    if done is not None and done[0] == head:
        return done[1]
    return loc.count_tree(mirror, head, settings.excluded_dirs, blobs, cloc_path=settings.cloc_path)


def _empty(project: Project) -> None:
    commit_sync.clear(project)
    commit_sync.apply_stats(project, commit_sync.stored_stats(project.id))
    project.head_sha = project.loc_head_sha = None
    project.loc, project.loc_by_language = 0, {}
    project.authored_loc, project.authored_loc_by_language = 0, {}


def analyse(
    project: Project,
    mirror: Mirror,
    head: str,
    settings: Settings,
    rules: str | None = None,
    *,
    blobs: DbBlobStore | None = None,
    early: Future[tuple[str, loc.LocResult] | None] | None = None,
    meanwhile: Languages | None = None,
) -> list[RepoUpdate]:
    """Sync commits and LOC to `head`; the LOC count runs beside the log read.

    `rules` is the fingerprint of (excluded dirs, mirror, head) when the caller has it already;
    `early` an ongoing count of a snapshot (`_count_snapshot`), used if it counted `head`;
    `meanwhile` the languages call, made while the count runs (after the commits are read).
    """
    excluded = settings.excluded_dirs
    rules = rules or commit_sync.fingerprint(excluded, mirror, head)
    before = (project.commit_count or 0, project.head_sha, project.loc or 0)
    need_loc = rules != project.analysis_fingerprint or head != project.loc_head_sha or project.authored_loc is None
    blobs = blobs or DbBlobStore(db.engine, deferred=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pt-loc") as pool:
        counting = (
            # In a copy of this context: the LOC thread's spans and log records belong to this job.
            pool.submit(copy_context().run, _count, mirror, head, settings, blobs, early) if need_loc else None
        )
        result = commit_sync.sync(project, mirror, head, excluded, rules)
        if counting is not None and meanwhile is not None:
            meanwhile.ask()
        counted = counting.result() if counting else None
    blobs.flush(db.session.connection())
    if result.mode != "unchanged":
        commit_sync.apply_stats(project, commit_sync.stored_stats(project.id))
    if counted is not None:
        project.loc, project.loc_by_language, project.loc_head_sha = counted.total_code, counted.by_language, head
        project.authored_loc, project.authored_loc_by_language = counted.authored_code, counted.authored_by_language
    project.head_sha, project.analysis_fingerprint = head, rules
    log.info("%s: history %s (+%d/-%d), loc %s", project.full_name, result.mode, result.added, result.removed,
             "recounted" if counted else "unchanged")  # fmt: skip
    if counted is not None and counted.large_files:
        log.warning("%s: %d files over LARGE_FILE_BYTES (%d) counted as binary (no LOC, no churn)",
                    project.full_name, counted.large_files, settings.large_file_bytes)  # fmt: skip
    return history_updates(project, commits_before=before[0], head_before=before[1], loc_before=before[2])

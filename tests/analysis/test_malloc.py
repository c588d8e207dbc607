"""git runs with the malloc library of GIT_MALLOC preloaded, when it loads and the address limit leaves room."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from analysis import gitlog, logstream
from analysis.gitcmd import Mirror
from analysis.limits import MALLOC_MIN_ADDRESS_BYTES, Limits, preloadable
from refresh.project import child_limits
from settings import Settings, SettingsError
from tests.fixtures_git import SampleHistory

MIMALLOC = "libmimalloc.so.2"  # installed by scripts/ensure-system-deps.sh, as by the Aptfile and Dockerfile
# A shell alias runs under git: its parent ($PPID) is git itself, whose mapped libraries it prints.
GIT_MAPS = ["-c", "alias.maps=!cat /proc/$PPID/maps", "maps"]


def test_the_library_is_preloaded_under_a_large_enough_address_limit() -> None:
    assert Limits(malloc=MIMALLOC).git_env() == {"LD_PRELOAD": MIMALLOC}
    assert Limits(address_bytes=MALLOC_MIN_ADDRESS_BYTES, malloc=MIMALLOC).git_env() == {"LD_PRELOAD": MIMALLOC}
    # mimalloc reserves more address space than the C library's malloc: under a small limit, none.
    assert Limits(address_bytes=MALLOC_MIN_ADDRESS_BYTES - 1, malloc=MIMALLOC).git_env() == {}
    assert Limits(address_bytes=512 * 1024**2).git_env() == {}


def test_only_a_library_that_loads_silently_is_preloadable() -> None:
    assert preloadable(MIMALLOC) is True
    assert preloadable("libno-such-malloc.so.9") is False  # ld.so would complain on every git's stderr
    assert preloadable("") is False


def test_child_limits_name_the_library_only_when_it_loads() -> None:
    base = Settings.from_env({})
    assert base.git_malloc == MIMALLOC
    assert child_limits(base).malloc == MIMALLOC
    assert child_limits(base.with_overrides(git_malloc="libno-such-malloc.so.9")).malloc is None
    assert child_limits(base.with_overrides(git_malloc="")).malloc is None


@pytest.mark.parametrize("value", ["libmimalloc.so.2 libjemalloc.so.2", "a.so:b.so", "$(id).so"])
def test_a_list_or_anything_else_than_a_file_name_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="GIT_MALLOC"):
        Settings.from_env({"GIT_MALLOC": value})


def test_git_commands_run_with_the_library_mapped(sample_history: SampleHistory) -> None:
    bare = sample_history.repo.bare
    fast = Mirror(bare, limits=Limits(address_bytes=512 * 1024**2, malloc=MIMALLOC))
    assert "/libmimalloc.so" in fast.git(GIT_MAPS).stdout.decode()
    plain = Mirror(bare, limits=Limits(address_bytes=128 * 1024**2, malloc=MIMALLOC))
    assert "/libmimalloc.so" not in plain.git(GIT_MAPS).stdout.decode()


def test_the_streamed_log_runs_with_the_library_fully_buffered(sample_history: SampleHistory, monkeypatch: Any) -> None:
    bare, head = sample_history.repo.bare, sample_history.repo.head()
    expected = gitlog.read_commits(bare, [head], ())
    assert len(expected) == 7
    started: list[dict[str, str]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        started.append(kwargs["env"])
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(logstream.subprocess, "Popen", recording_popen)
    mirror = Mirror(bare, limits=Limits(malloc=MIMALLOC))
    records = [record for batch in logstream.stream_commits(mirror, [head], ()) for record in batch]
    assert records == expected  # the same numbers with either malloc
    assert [env.get("LD_PRELOAD") for env in started] == [MIMALLOC]
    # Not a flush (a write, a wake-up of the reader) per commit: git buffers as it does for a file.
    assert [env.get("GIT_FLUSH") for env in started] == ["0"]

#!/usr/bin/env bash
# Make sure the programs the tests (or the venv) need are installed; install them with apt-get
# when running as root on Debian, otherwise say what is missing. Idempotent.
set -euo pipefail
what="${1:-test}"

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }

if [ "$what" = "venv" ]; then
  missing+=("python3-venv")
elif [ "$what" = "bench-http" ]; then
  need wrk wrk  # the HTTP load generator of benchmarks/http_reads.py only; tests never need it
else
  need git git
  need cloc cloc
  need redis-server redis-server
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=("postgresql")
  fi
  need chromium chromium
  # git's malloc (GIT_MALLOC): optional for the service, installed so tests and benchmarks use it
  ldconfig -p 2>/dev/null | grep 'libmimalloc\.so\.2 ' >/dev/null || missing+=("libmimalloc2.0")
fi

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian postgresql package starts a cluster on port 5432; the tests start their own.
  if printf '%s\n' "${missing[@]}" | grep -qx postgresql && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
  fi
else
  echo "missing system packages: ${missing[*]} (install them, e.g. sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

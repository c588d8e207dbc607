# Project Tracker: one image for every process of the Procfile (web, worker, clock, migrate).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git (clone/fetch/log), cloc (LOC) and mimalloc (git's malloc, GIT_MALLOC), as the Aptfile installs them on Heroku.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git cloc libmimalloc2.0 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system tracker && useradd --system --gid tracker --create-home --home-dir /home/tracker tracker

WORKDIR /app
# The same pinned runtime requirements as `make run` (requirements.txt), installed before the code
# so a code change reuses this layer.
COPY requirements.txt ./
RUN python -m pip install -r requirements.txt

COPY --chown=tracker:tracker . .
RUN mkdir -p /data && chown tracker:tracker /data

USER tracker
# The instance folder (SQLite default, git mirror cache, admin token file) lives on a volume.
ENV INSTANCE_PATH=/data PORT=5001 FLASK_APP=app
VOLUME ["/data"]
EXPOSE 5001

CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:app"]

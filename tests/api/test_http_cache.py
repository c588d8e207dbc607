"""HTTP caching of JSON reads: strong ETags, 304s, Cache-Control per route class, compression."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sqlite3
from typing import Any

import brotli
import pytest
from flask import jsonify

from api.auth import admin_required
from infra.extensions import db
from models import Project
from tests.repo_helpers import add_project

pytestmark = pytest.mark.sqlite

ADMIN = "admin-token-for-cache-tests"
PUBLIC = "public, max-age=60, stale-while-revalidate=300"
PRIVATE = "private, no-store"


def tag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


@pytest.fixture
def two_projects(app: Any) -> dict[str, int]:
    return {
        "tracker": add_project(app, "octo-owner", "tracker", loc=1500, commit_count=42, primary_language="Python"),
        "site": add_project(app, "octo-owner", "site", loc=300, commit_count=7, primary_language="HTML"),
    }


def set_loc(app: Any, project_id: int, loc: int) -> None:
    with app.app_context():
        db.session.get(Project, project_id).loc = loc
        db.session.commit()


@pytest.mark.parametrize("path", ["/api/projects", "/api/metrics", "/api/project/tracker"])
def test_same_data_same_etag_and_a_write_makes_a_new_one(app: Any, client: Any, two_projects: Any, path: str) -> None:
    first = client.get(path)
    second = client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.headers["ETag"] == second.headers["ETag"] == tag_of(first.data)
    assert first.data == second.data

    set_loc(app, two_projects["tracker"], 2000)
    third = client.get(path)
    assert third.headers["ETag"] == tag_of(third.data) != first.headers["ETag"]
    body = third.get_json()
    if path == "/api/metrics":
        assert body["total_loc"] == 2300
    else:
        assert {p["name"]: p["loc"] for p in (body if isinstance(body, list) else [body])}["tracker"] == 2000

    set_loc(app, two_projects["tracker"], 1500)  # back to the same data: the same body, the same tag
    assert client.get(path).headers["ETag"] == first.headers["ETag"]


def test_insert_and_delete_change_the_cached_list(app: Any, client: Any, two_projects: Any) -> None:
    before = client.get("/api/projects")
    extra = add_project(app, "octo-owner", "extra")
    after_insert = client.get("/api/projects")
    assert sorted(p["name"] for p in after_insert.get_json()) == ["extra", "site", "tracker"]
    with app.app_context():
        db.session.delete(db.session.get(Project, extra))
        db.session.commit()
    after_delete = client.get("/api/projects")
    assert sorted(p["name"] for p in after_delete.get_json()) == ["site", "tracker"]
    assert len({before.headers["ETag"], after_insert.headers["ETag"]}) == 2
    assert after_delete.data == before.data and after_delete.headers["ETag"] == before.headers["ETag"]


def test_cached_body_is_the_validated_contract_json(client: Any, two_projects: Any) -> None:
    body = client.get("/api/metrics").get_json()
    assert body["total_projects"] == 2
    assert body["total_loc"] == 1800
    assert body["total_commits"] == 49
    assert body["project_with_most_loc"] == {"name": "tracker", "loc": 1500}


@pytest.mark.parametrize("path", ["/api/projects", "/api/metrics", "/api/health", "/"])
def test_if_none_match_answers_304_with_empty_body(client: Any, two_projects: Any, path: str) -> None:
    fresh = client.get(path)
    etag = fresh.headers["ETag"]
    for header in (etag, f'"nope", {etag}', "*", f"W/{etag}", f'W/"x", W/{etag}'):
        answer = client.get(path, headers={"If-None-Match": header})
        assert answer.status_code == 304, header
        assert answer.data == b""
        assert answer.headers["ETag"] == etag
        assert answer.headers["Cache-Control"] == PUBLIC
        assert "Content-Type" not in answer.headers
    for header in ('"nope"', 'W/"nope"', f'"{etag}"'):
        assert client.get(path, headers={"If-None-Match": header}).status_code == 200, header


def test_public_reads_use_the_configured_max_age(make_app: Any, two_projects: Any) -> None:
    client = make_app(HTTP_MAX_AGE="5", HTTP_STALE_WHILE_REVALIDATE="7").test_client()
    response = client.get("/api/projects")
    assert response.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=7"
    assert {"Authorization", "Accept-Encoding"} <= set(response.headers["Vary"].replace(" ", "").split(","))


def test_admin_requests_are_private_and_cached_apart(make_app: Any, two_projects: Any) -> None:
    app = make_app(ADMIN_TOKEN=ADMIN)
    client = app.test_client()
    anonymous = client.get("/api/projects")
    admin = client.get("/api/projects", headers={"Authorization": f"Bearer {ADMIN}"})
    wrong = client.get("/api/projects", headers={"Authorization": "Bearer not-the-token"})
    assert anonymous.headers["Cache-Control"] == PUBLIC
    assert admin.headers["Cache-Control"] == PRIVATE
    assert wrong.headers["Cache-Control"] == PRIVATE  # any token: never stored by a shared cache
    assert sorted(app.extensions["http_cache"].bodies) == [("projects", "admin"), ("projects", "anonymous")]
    not_modified = client.get(
        "/api/projects", headers={"Authorization": f"Bearer {ADMIN}", "If-None-Match": admin.headers["ETag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["Cache-Control"] == PRIVATE
    assert ADMIN not in json.dumps(dict(admin.headers)) + admin.get_data(as_text=True)


def test_admin_only_read_is_private(make_app: Any) -> None:
    from tests.conftest import TEST_ADMIN_TOKEN

    app = make_app()

    @admin_required
    def secret_read() -> Any:
        return jsonify({"secret": True})

    app.add_url_rule("/api/test-admin-read", "test_admin_read", secret_read)
    # There is always an admin token now (generated when ADMIN_TOKEN is unset): present it.
    response = app.test_client().get("/api/test-admin-read", headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == PRIVATE
    assert response.headers["ETag"] == tag_of(response.data)


def test_compressed_bodies_decompress_to_the_exact_json_with_their_own_etag(client: Any, two_projects: Any) -> None:
    plain = client.get("/api/projects")
    etag = plain.headers["ETag"].strip('"')
    zipped = client.get("/api/projects", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["ETag"] == f'"{etag}:gzip"'
    assert gzip.decompress(zipped.data) == plain.data
    assert int(zipped.headers["Content-Length"]) == len(zipped.data) < len(plain.data)
    assert "Accept-Encoding" in zipped.headers["Vary"]
    squeezed = client.get("/api/projects", headers={"Accept-Encoding": "br"})
    assert squeezed.headers["ETag"] == f'"{etag}:br"'
    assert brotli.decompress(squeezed.data) == plain.data

    again = client.get("/api/projects", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # The identity tag does not validate the gzip representation, and the other way round.
    assert (
        client.get("/api/projects", headers={"Accept-Encoding": "gzip", "If-None-Match": f'"{etag}"'}).status_code
        == 200
    )
    assert client.get("/api/projects", headers={"If-None-Match": zipped.headers["ETag"]}).status_code == 200


def _url_for(rule: Any, ids: dict[str, Any]) -> str:
    values = {"name": "tracker", "repo_id": ids["tracker"], "filename": "missing", "job_id": "1"}
    path = rule.rule
    for argument in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{argument}>", str(values[argument]), path)
    return path


def test_every_get_json_route_sends_etag_and_cache_control(app: Any, client: Any, two_projects: Any) -> None:
    json_reads = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        response = client.get(_url_for(rule, two_projects))
        if response.mimetype != "application/json" or response.status_code != 200:
            continue
        json_reads.append(rule.rule)
        assert response.headers.get("ETag") == tag_of(response.data), rule.rule
        assert response.headers.get("Cache-Control") == PUBLIC, rule.rule
    expected = {"/api/projects", "/api/metrics", "/api/project/<path:name>", "/api/health", "/", "/openapi.json"}
    assert expected <= set(json_reads)
    assert len(json_reads) >= 12


def test_openapi_documents_304_and_caching_headers(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/api/projects"]["get"]
    assert "304" in operation["responses"]
    assert {"ETag", "Cache-Control"} <= set(operation["responses"]["200"]["headers"])


def test_version_is_remembered_for_its_ttl_and_forgotten_on_a_commit(
    make_app: Any, two_projects: Any, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("writes behind SQLAlchemy's back with the sqlite3 module")
    app = make_app(HTTP_VERSION_TTL="3600")
    client = app.test_client()
    before = client.get("/api/projects")
    # Another process writes (no commit event here): within the TTL the remembered version stands.
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE projects SET loc = 7, updated_at = '2030-01-01 00:00:00.000000' WHERE name = 'site'")
    assert client.get("/api/projects").headers["ETag"] == before.headers["ETag"]
    # Any commit made by this process forgets it: the next read sees the other process's write too.
    set_loc(app, two_projects["tracker"], 1501)
    after = client.get("/api/projects")
    assert {p["name"]: p["loc"] for p in after.get_json()} == {"tracker": 1501, "site": 7}
    assert after.headers["ETag"] == tag_of(after.data) != before.headers["ETag"]


def test_with_no_ttl_a_write_by_another_process_shows_at_once(
    client: Any, two_projects: Any, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("writes behind SQLAlchemy's back with the sqlite3 module")
    before = client.get("/api/metrics")
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE projects SET loc = 7, updated_at = '2030-01-01 00:00:00.000000' WHERE name = 'site'")
    after = client.get("/api/metrics")
    assert after.get_json()["total_loc"] == 1507
    assert after.headers["ETag"] != before.headers["ETag"]

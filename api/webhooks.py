"""Receive GitHub webhooks: `POST /api/webhooks/github` (exists only when WEBHOOK_SECRET is set).

The raw body is read (at most GitHub's 25 MB cap) and its `X-Hub-Signature-256` verified before
anything is parsed; the work itself is queued (`refresh.webhooks`), so GitHub gets its answer at once.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, Field
from werkzeug.exceptions import NotFound

from infra.errors import APIError
from infra.runtime import current_settings
from refresh import webhooks

bp = APIBlueprint("webhooks", __name__, tag="Webhooks")
READ_CHUNK = 64 * 1024


class WebhookAnswer(BaseModel):
    outcome: str = Field(
        description="pong | queued | coalesced | updated | deleted | ignored | duplicate (errors use the error shape)"
    )
    message: str
    job_id: str | None = Field(None, description="The refresh job a default-branch push started or joined.")


def _fail(event: str | None, status: int, outcome: str, message: str) -> APIError:
    webhooks.count(event, outcome)
    return APIError(status, message)


def _read_body(event: str | None) -> bytes:
    """Read the raw body, refusing (413) anything over the cap, announced or streamed."""
    cap = webhooks.MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > cap:
        raise _fail(event, 413, "too_large", f"Body over {cap} bytes")
    chunks, size = [], 0
    stream = request.stream
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            raise _fail(event, 413, "too_large", f"Body over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(event: str, body: bytes) -> dict[str, Any]:
    """Decode a JSON body, or the `payload=` field of a form-encoded one; 400 when malformed."""
    try:
        if request.mimetype == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            body = fields["payload"][0].encode("utf-8")
        payload = json.loads(body)
    except (ValueError, KeyError, IndexError):
        raise _fail(event, 400, "malformed", "The body is not a JSON object") from None
    if not isinstance(payload, dict):
        raise _fail(event, 400, "malformed", "The body is not a JSON object")
    return payload


@bp.post("/api/webhooks/github")
@bp.output(WebhookAnswer, status_code=202)
@bp.doc(
    security=[{"WebhookSignature": []}],
    responses={
        200: "ping, a repository/star/watch/fork change applied, or a duplicate delivery",
        202: "push queued or coalesced, or delivery ignored",
        400: "Malformed body or missing X-GitHub-Event / X-GitHub-Delivery",
        401: "Missing or wrong X-Hub-Signature-256",
        404: "WEBHOOK_SECRET is not set (the route does not exist)",
        413: "Body over 25 MB",
    },
)
def github_webhook() -> tuple[dict[str, Any], int]:
    """Receive a GitHub webhook delivery (signed with WEBHOOK_SECRET); see API_DOCUMENTATION.md."""
    secret = current_settings().webhook_secret
    if not secret:
        raise NotFound()
    event = request.headers.get("X-GitHub-Event")
    body = _read_body(event)
    if not webhooks.signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
        raise _fail(event, 401, "bad_signature", "Missing or invalid X-Hub-Signature-256")
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery or len(delivery) > 100:
        raise _fail(event, 400, "malformed", "X-GitHub-Event and X-GitHub-Delivery are required")
    payload = _parse(event, body)
    result = webhooks.handle(event, delivery, payload)
    webhooks.count(event, result.outcome)
    if result.status >= 400:
        raise APIError(result.status, result.message)
    return result.json(), result.status

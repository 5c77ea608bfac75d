"""``POST /v1/admin/forget``: the right to be forgotten, for operators.

Body ``{"user_id": "u-0001"}``; answers the counts ``switchyard forget --user`` prints. Only a
token whose ``roles`` claim holds ``"admin"`` gets in (``require_role``); everyone else is
refused before the body is read (401 without a valid token, 403 without the role).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from switchyard.app import ForgetIncomplete
from switchyard.service.access import AccessRefused, require_role
from switchyard.service.auth import ADMIN_ROLE, Identity
from switchyard.service.schemas import ID_PATTERN, ErrorResponse

log = logging.getLogger("switchyard.service")
router = APIRouter()


class ForgetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: StrictStr = Field(pattern=ID_PATTERN, description="The user to forget.")


class ForgetReport(BaseModel):
    user_id: str
    backend: str
    cache_entries: int
    intent_keys: int
    threads: int
    checkpoints: int
    routing_runs: int = Field(default=0, description="Routing records kept for feedback "
                                                     "(and their ratings).")


@router.post("/v1/admin/forget", response_model=ForgetReport,
             responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": ForgetRequest.model_json_schema()}}}})
async def forget(request: Request,
                 operator: Identity = Depends(require_role(ADMIN_ROLE))) -> dict[str, Any]:
    """Delete the user's cache entries, intent keys, threads and checkpoints; report counts."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise AccessRefused(503, "The service is starting up; retry in a few seconds.")
    # Read only now, after the role check: nobody else gets as far as the body.
    try:
        body = ForgetRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from exc
    try:
        counts = await service.switchyard.aforget(body.user_id, threads=service.threads)
    except ForgetIncomplete as exc:  # what was deleted, which store failed; safe to repeat
        log.error("forget on request of operator %s: %s", operator.user_id, exc.failed)
        raise AccessRefused(503, str(exc)) from exc
    log.info("forgot a user on request of operator %s: %s", operator.user_id,
             {k: v for k, v in counts.items() if k != "user_id"})
    return counts

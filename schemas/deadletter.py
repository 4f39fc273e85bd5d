"""The dead-letter record: a rejected input with where it came from and why."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Reason(str, Enum):
    too_large = "too_large"
    malformed_json = "malformed_json"
    invalid = "invalid"
    bad_timestamp = "bad_timestamp"
    late = "late"
    processing_error = "processing_error"


class DeadLetter(BaseModel):
    """Value of a record on the dead-letter topic (its key is the original key)."""

    model_config = ConfigDict(frozen=True)

    version: int = 1
    reason: Reason
    detail: str = Field(description="Readable explanation of what is wrong.")
    topic: str
    partition: int
    offset: int
    key_b64: str | None = Field(description="Original record key, base64.")
    payload_b64: str = Field(description="Original record value, base64 (exact bytes).")
    rejected_at: datetime

    def payload(self) -> bytes:
        """The original record value."""
        return base64.b64decode(self.payload_b64)


def b64(data: bytes | None) -> str | None:
    """Base64 text for bytes (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")

"""The dead-letter record: a rejected input with where it came from and why."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Reason(str, Enum):
    too_large = "too_large"
    malformed_json = "malformed_json"
    invalid = "invalid"
    bad_timestamp = "bad_timestamp"
    late = "late"
    wrong_key = "wrong_key"
    processing_error = "processing_error"

# Dead-letter records must fit the broker's message limit (1 MB by default) whatever came in.
PAYLOAD_KEPT = 256 * 1024
KEY_KEPT = 1024


class DeadLetter(BaseModel):
    """Value of a record on the dead-letter topic (its key is the original key)."""

    model_config = ConfigDict(frozen=True)

    version: int = 1
    reason: Reason
    detail: str = Field(description="Readable explanation of what is wrong.")
    topic: str
    partition: int
    offset: int
    key_b64: str | None = Field(description="Original record key, base64 (its first 1 KiB).")
    payload_b64: str = Field(description="Original record value, base64: the exact bytes, or their first 256 KiB.")
    payload_bytes: int = Field(default=0, description="Length of the original value.")
    payload_sha256: str = Field(default="", description="SHA-256 (hex) of the whole original value.")
    truncated: bool = Field(default=False, description="payload_b64 holds only a prefix of the value.")
    rejected_at: datetime

    @classmethod
    def of(
        cls, reason: Reason, detail: str, topic: str, partition: int, offset: int,
        key: bytes | None, value: bytes | None, rejected_at: datetime,
    ) -> "DeadLetter":
        """A dead-letter record for a rejected input, bounded in size whatever its size."""
        value = value or b""
        return cls(
            reason=reason, detail=detail[:2000], topic=topic, partition=partition, offset=offset,
            key_b64=b64(None if key is None else key[:KEY_KEPT]), payload_b64=b64(value[:PAYLOAD_KEPT]) or "",
            payload_bytes=len(value), payload_sha256=hashlib.sha256(value).hexdigest(),
            truncated=len(value) > PAYLOAD_KEPT, rejected_at=rejected_at,
        )

    def payload(self) -> bytes:
        """The original record value."""
        return base64.b64decode(self.payload_b64)


def b64(data: bytes | None) -> str | None:
    """Base64 text for bytes (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")

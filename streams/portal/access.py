"""Who may see what: users with hashed tokens from a YAML file; customers see their own data,
analysts everything.

    users:
      - {name: acme-portal, customer: acme, token_sha256: "3f1c..."}
      - {name: analyst, role: analyst, token_sha256: "9ab2..."}

Only SHA-256 hashes of the tokens are stored (tokens are long random strings, made by
`slastream portal token`), never the tokens themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import UserError


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    role: Literal["customer", "analyst"] = "customer"
    customer: str | None = None

    @model_validator(mode="after")
    def _customer_for_customers(self) -> "User":
        if self.role == "customer" and not self.customer:
            raise ValueError("a customer user needs `customer` (or role: analyst)")
        return self

    def may_see(self, customer: str) -> bool:
        return self.role == "analyst" or self.customer == customer


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[User]


@dataclass(frozen=True)
class Users:
    by_hash: dict[str, User]

    def find(self, token: str | None) -> User | None:
        """The user holding `token`, compared in constant time; None for anything else."""
        if not token:
            return None
        digest = hash_token(token)
        return next((u for h, u in self.by_hash.items() if hmac.compare_digest(h, digest)), None)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and its hash."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def load_users(path: Path) -> Users:
    """Read and check the users file; a mistake is one line naming the user and field."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"PORTAL_USERS_FILE {path}: {exc.strerror}; create it (`slastream portal token` prints "
                        "an entry)") from None
    except yaml.YAMLError as exc:
        raise UserError(f"PORTAL_USERS_FILE {path} is not YAML: {str(exc).splitlines()[0]}") from None
    try:
        users = UsersFile.model_validate(doc).users
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        hint = " (YAML read it as a number: put it in quotes)" if first["type"] == "string_type" else ""
        raise UserError(f"PORTAL_USERS_FILE {path}: {where}: {first['msg']}{hint}") from None
    return Users({u.token_sha256: u for u in users})

"""Reading a policy from files: slastream YAML, OpenSLO v1 documents, or both joined.

Apart from schemas/policy.py because OpenSLO documents translate into that module's models
(schemas/openslo.py builds on it), and a policy file may be either.
"""

from __future__ import annotations

from pathlib import Path

from schemas.errors import read_text
from schemas.openslo import is_openslo, parse_openslo
from schemas.policy import Policy, PolicyDocument, PolicyError, Problem, parse_policy


def load_policy(path: str | Path, openslo: str | Path | None = None) -> "Policy":
    """Read and validate a policy file: slastream YAML, or OpenSLO v1 SLO documents.

    `openslo` names a file of OpenSLO documents whose contracts join those of `path`.
    """
    p = Path(path)
    text = read_text(p, "policy file")
    doc = PolicyDocument(contracts=parse_openslo(text, str(p))) if is_openslo(text) else parse_policy(text, str(p)).doc
    if openslo is not None:
        q = Path(openslo)
        extra = parse_openslo(read_text(q, "OpenSLO file"), str(q))
        known = {c.id for c in doc.contracts}
        clashes = [Problem(None, f"contract {c.id}", f"already defined in {p}") for c in extra if c.id in known]
        if clashes:
            raise PolicyError(str(q), clashes)
        doc = doc.model_copy(update={"contracts": doc.contracts + extra})
    return Policy(doc)

"""The versioned record: a pydantic model with ``schema_version``, one validating reader and one
atomic writer. A file without ``schema_version`` is version 0 (written before records existed)
and is upgraded as it is read; a file from a newer lorascope is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from lorascope.config import validate_mapping
from lorascope.errors import LorascopeError
from lorascope.io import write_json


class Record(BaseModel):
    """A file one layer writes and another reads."""

    model_config = ConfigDict(extra="forbid")
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    @classmethod
    def upgrade(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        """``payload`` of an older ``version`` (0: no schema_version) in the current shape."""
        return payload

    @classmethod
    def parse(cls: type[R], payload: Any, source: str) -> R:
        """Validate ``payload`` (upgraded when older), naming ``source`` and the field of any problem."""
        if not isinstance(payload, dict):
            raise LorascopeError(f"{source}: expected a JSON object")
        payload = dict(payload)
        version = payload.pop("schema_version", 0)
        if not isinstance(version, int) or version > cls.SCHEMA_VERSION:
            raise LorascopeError(
                f"{source}: schema_version {version!r} is newer than this lorascope reads "
                f"({cls.SCHEMA_VERSION}); upgrade lorascope"
            )
        payload = cls.upgrade(payload, version) if version < cls.SCHEMA_VERSION else payload
        return validate_mapping(cls, payload | {"schema_version": cls.SCHEMA_VERSION}, source)


R = TypeVar("R", bound=Record)


def read_record(cls: type[R], path: Path) -> R:
    """``path`` as a ``cls`` record; a missing, unreadable or invalid file raises ``LorascopeError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LorascopeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path} line {exc.lineno}: invalid JSON: {exc.msg}") from None
    return cls.parse(payload, str(path))


def write_record(path: Path, record: Record) -> Path:
    """Write ``record`` atomically (a kill leaves the old file or the new one, never half)."""
    write_json(Path(path), record.model_dump(mode="json"))
    return Path(path)

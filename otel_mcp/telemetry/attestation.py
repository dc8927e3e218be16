"""HMAC attestation of spans the server itself wrote (runner checks and gate decisions).

The signature covers a canonical, backend-neutral rendering of the span: ids, name, start time,
status and every attribute except the attestation itself. Canonical values are strings that read
the same whether a value comes back typed (SQLite) or as text (ClickHouse keeps every attribute
as a string, lists as JSON text): booleans as `true`/`false`, numbers in one normal form (so
`1.0`, `"1.0"` and `"1"` agree), lists as compact JSON of canonical items. Any change to a stored
attribute, including adding one, breaks verification.

The key comes from `OTEL_MCP_ATTESTATION_KEY`, else from `attestation.key` next to the database,
created once with mode 0600 and published atomically so concurrent processes agree on one key.
This detects tampering with recorded evidence; it does not protect against a local user who can
read the key (see the README's threat model).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_mcp.errors import InvalidArgument
from otel_mcp.model import ATTR_ATTESTATION, SpanRecord
from otel_mcp.store.statedir import make_state_dir

__all__ = ["KEY_FILE_NAME", "Attestor", "canonical_content", "canonical_value", "load_or_create_key"]

_log = logging.getLogger(__name__)

KEY_FILE_NAME = "attestation.key"
_VERSION = "v1"
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MIN_ENV_KEY = 16
_VERIFIED_CACHE = 4096


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        return text
    first = stripped[0]
    # Cheap tests first: most attribute strings (ids, digests, names) are not numbers or lists.
    if first == "[":
        try:
            items = json.loads(stripped)
        except ValueError:
            return text
        return _list(items) if isinstance(items, list) else text
    if not (first.isdigit() or first in "+-."):
        return text
    if _INT.fullmatch(stripped):
        return str(int(stripped))
    if _FLOAT.fullmatch(stripped):
        number = float(stripped)
        return _number(number) if math.isfinite(number) else text
    return text


def _list(items: list[Any] | tuple[Any, ...]) -> str:
    return json.dumps([canonical_value(v) for v in items], ensure_ascii=False, separators=(",", ":"))


def canonical_value(value: Any) -> str:
    """One attribute value as backend-neutral text."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value) if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return _list(value)
    return _text(str(value))


def _status(code: str) -> str:
    # The collector's exporter has spelled these 'Ok' and 'STATUS_CODE_OK' across versions.
    return code.lower().removeprefix("status_code_")


def canonical_content(
    *, span_id: str, trace_id: str, name: str, start_ns: int, status_code: str, attributes: Mapping[str, Any]
) -> bytes:
    attrs = {str(k): canonical_value(v) for k, v in attributes.items() if k != ATTR_ATTESTATION}
    body = {
        "v": _VERSION,
        "span_id": span_id.lower(),
        "trace_id": trace_id.lower(),
        "name": name,
        "start_ns": str(int(start_ns)),
        "status": _status(status_code),
        "attributes": attrs,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Attestor:
    """Signs and verifies span content with one HMAC-SHA256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_ENV_KEY:
            raise InvalidArgument("the attestation key is too short; use at least 16 bytes")
        self._key = key
        self._verified: dict[str, SpanRecord] = {}

    @classmethod
    def from_settings(cls, key_text: str | None, db_path: Path, *, create: bool = True) -> Attestor:
        """The key from OTEL_MCP_ATTESTATION_KEY, else the key file next to the store (made if `create`)."""
        if key_text:
            if len(key_text) < _MIN_ENV_KEY:
                raise InvalidArgument(
                    "OTEL_MCP_ATTESTATION_KEY is too short; use at least 32 random characters, e.g. the output of "
                    "`python -c 'import secrets; print(secrets.token_hex(32))'`"
                )
            return cls(key_text.encode("utf-8"))
        path = db_path.parent / KEY_FILE_NAME
        if not create:
            key = _read_key(path)
            if not key:
                raise InvalidArgument(
                    f"there is no attestation key at {path} (nor OTEL_MCP_ATTESTATION_KEY), so nothing in this store "
                    "can be verified; point --db at the store the servers use"
                )
            return cls(key)
        return cls(load_or_create_key(path))

    def sign_content(self, content: bytes) -> str:
        return f"{_VERSION}:" + hmac.digest(self._key, content, "sha256").hex()  # one C call, same digest

    def sign(self, **fields: Any) -> str:
        return self.sign_content(canonical_content(**fields))

    def verify(self, record: SpanRecord) -> bool:
        # A span read back exactly as it was when it last verified needs no new HMAC: comparing the
        # records is far cheaper than canonicalizing, and any change in the store makes them differ.
        if self._verified.get(record.span_id) == record:
            return True
        claimed = record.attributes.get(ATTR_ATTESTATION)
        if not isinstance(claimed, str):
            return False
        expected = self.sign(
            span_id=record.span_id,
            trace_id=record.trace_id,
            name=record.name,
            start_ns=record.start_ns,
            status_code=record.status_code,
            attributes=record.attributes,
        )
        if not hmac.compare_digest(claimed, expected):
            return False
        if len(self._verified) >= _VERIFIED_CACHE:
            self._verified.clear()
        self._verified[record.span_id] = record
        return True


def _read_key(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read the attestation key file {path}: {exc}") from None
    if len(text) < 64:
        return b""  # being written by the O_EXCL fallback; the caller retries
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidArgument(
            f"the attestation key file {path} is not hex text; delete it to have a new key made "
            "(spans signed with the old key will no longer verify)"
        ) from None


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (0600, atomically) if there is none yet."""
    for _ in range(200):
        key = _read_key(path)
        if key:
            with contextlib.suppress(OSError):
                if path.stat().st_mode & 0o077:
                    _log.warning("attestation key %s is readable by other users; run chmod 600 on it", path)
            return key
        if key is None:
            _create_key(path)
            continue
        time.sleep(0.01)  # another process is between O_EXCL and write
    raise InvalidArgument(f"the attestation key file {path} stays empty; delete it so a new key can be made")


def _create_key(path: Path) -> None:
    make_state_dir(path.parent)
    text = (secrets.token_hex(32) + "\n").encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        # link() publishes the complete file or fails if another process won: readers never see half a key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        # Filesystems without hard links: O_EXCL still picks one winner; readers retry while it is short.
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, text)
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)

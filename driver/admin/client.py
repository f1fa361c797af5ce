"""A small synchronous client of the admin API, for the CLI: the standard
library's urllib, JSON in and out, and one exception for every failure
(:class:`ApiError`) carrying the status and the server's message."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:4081"
SERVER_ENV = "JITREALM_SERVER"
TOKEN_ENV = "JITREALM_TOKEN"


class ApiError(Exception):
    """A request that failed: ``status`` is the HTTP status (0: the server
    could not be reached), ``message`` the server's error text."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message, self.detail = status, message, detail


def quote_path(path: str) -> str:
    """A blueprint path or object id as URL path segments (``#`` and the
    like escaped, slashes kept)."""
    return urllib.parse.quote(path.strip("/"), safe="/")


class Client:
    def __init__(
        self, server: str = DEFAULT_SERVER, token: str | None = None, *, timeout: float = 60.0
    ):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        """``method path`` on the server; the decoded JSON answer (or its
        text, for non-JSON answers). Raises :class:`ApiError`."""
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as answer:
                return _decode(answer.read(), answer.headers.get_content_type())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            body = _decode(raw, exc.headers.get_content_type()) if raw else None
            if isinstance(body, dict) and "error" in body:
                raise ApiError(exc.code, str(body["error"]), body.get("detail")) from None
            raise ApiError(exc.code, str(exc.reason or body or "error")) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, f"cannot reach {self.server}: {reason}") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json_body=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json_body=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type.endswith("json"):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")

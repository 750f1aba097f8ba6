"""Outbound HTTP (requests): every call has a timeout; failures become DependencyUnavailable."""
from __future__ import annotations

from typing import Any

import requests

from ..core.errors import DependencyUnavailable

MAX_DOCUMENT_BYTES = 1_000_000


class JsonFetcher:
    """GET a JSON object (JWKS, discovery) over a pooled session."""

    def __init__(self, timeout: float) -> None:
        self.session = requests.Session()
        self.timeout = timeout

    def __call__(self, url: str) -> dict[str, Any]:
        try:
            response = self.session.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > MAX_DOCUMENT_BYTES:
                raise DependencyUnavailable("document too large")
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyUnavailable("could not fetch a key document") from exc
        if not isinstance(document, dict):
            raise DependencyUnavailable("key document is not a JSON object")
        return document

"""Credential verifiers: each turns a presented credential (an external issuer's JWT, an opaque
token, forwarded headers, an API key) into a principal of core.policy, or refuses it."""

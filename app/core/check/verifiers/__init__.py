"""Credential verifiers: each turns a presented credential (Gatehouse's own access token, an
external issuer's JWT, an opaque token, forwarded headers, an API key) into a principal of
core.policy, or refuses it; and the per-worker cache of credentials already verified. They
build on the rules below them and know nothing of the authorizer above."""

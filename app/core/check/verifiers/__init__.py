"""Credential verifiers: each turns a presented credential (Gatehouse's own access token, an
opaque token, forwarded headers, an API key) into a principal, or refuses it. The sources
(core/check/sources) call them; external issuers' JWTs and the cache of verified credentials are
the kernel's (core/external_tokens.py, core/verified_cache.py), shared with the login flow."""

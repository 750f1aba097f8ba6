"""One module per OAuth grant served at /oauth/token."""

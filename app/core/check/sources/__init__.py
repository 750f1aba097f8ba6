"""The check's credential sources, one class per source, walked in order by the authorizer:
chain.py holds the chain and what a source is; each other module is one source (docs/auth.md
"Credential sources in the code")."""

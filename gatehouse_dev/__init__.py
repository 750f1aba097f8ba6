"""The development stack of Gatehouse, shipped beside the product but never imported by it.

`gatehouse dev` (README command 1) runs `runner.run`: embedded Redis and MongoDB-wire server,
the development OIDC provider (`provider`, oidc-provider-mock), Gatehouse under gunicorn, nginx
with the shipped config and the demo upstream (`demo_upstream`). Nothing in `app/` imports this
package (tests/unit/test_layout.py); the CLI imports it inside the `dev` command only.
"""

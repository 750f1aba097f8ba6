"""Authorization policy, the pure rules: the route table, the expression language, the decision
and the forward-auth dialects. They stand on nothing but the domain errors and the redirect
validator (tests/unit/test_layout.py)."""

"""Authorization policy, the pure rules: the route table, the expression language, the decision
and the forward-auth dialects. It imports nothing outside itself (tests/unit/test_layout.py)."""

"""Authorization policy: the route table, the expression language and the decision."""

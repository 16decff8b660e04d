-- Test support: the plan of a catalog statement (its text replaces the placeholder below), with its parameters bound.
EXPLAIN (FORMAT JSON) {statement}

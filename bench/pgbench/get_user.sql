-- pgbench limit for GET /v1/users/{id}: its SELECT, for a random seeded user.
\set id random({{MIN_ID}}, {{MAX_ID}})
{{users/get_by_id}}
  @id = :id

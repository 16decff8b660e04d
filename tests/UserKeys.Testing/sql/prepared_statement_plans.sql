-- Test support: how often PostgreSQL planned this session's one prepared statement afresh (custom) and how often it reused its generic plan.
SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE NOT from_sql

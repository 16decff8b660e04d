-- Test support: what instances leased of a key's credits (migration 0020). @id bigint
SELECT leased FROM api_keys WHERE id = @id

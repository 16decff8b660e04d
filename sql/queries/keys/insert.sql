-- keys/insert: create an API key for a user; the token itself is never stored, only its SHA-256.
-- Parameters: @user_id bigint, @name text (null), @prefix text, @token_hash bytea (32 bytes), @expires_at timestamptz (null)
-- Index: api_keys_token_hash_key (23505 -> token conflict); api_keys_user_id_fkey (23503 -> user not found).
INSERT INTO api_keys (user_id, name, prefix, token_hash, expires_at)
VALUES (@user_id, @name, @prefix, @token_hash, @expires_at)
RETURNING id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at

-- keys/update: change a key's name, enabled, scopes, permissions, meta and/or expiry in one statement, so that two
-- concurrent partial updates cannot overwrite each other's fields. Scopes only narrow: a @scopes that is not a
-- subset of the stored scopes matches no row (as does a key that does not exist: keys/get_state tells which).
-- A null @enabled, @scopes or @permissions keeps the stored value; @name, @meta and @expires_at are applied only
-- when their set flag (@set_name, @set_meta, @set_expires_at) is true (so they can be cleared to null).
-- Parameters: @user_id bigint, @id bigint, @set_name boolean, @name text (null), @enabled boolean (null),
--             @scopes text[] (null), @permissions text[] (null), @set_meta boolean, @meta text (null),
--             @set_expires_at boolean, @expires_at timestamptz (null)
-- Index: api_keys_user_id_idx (user_id, id).
UPDATE api_keys
SET name        = CASE WHEN @set_name THEN @name ELSE name END,
    enabled     = COALESCE(@enabled, enabled),
    scopes      = COALESCE(@scopes, scopes),
    permissions = COALESCE(@permissions, permissions),
    meta        = CASE WHEN @set_meta THEN @meta::jsonb ELSE meta END,
    expires_at  = CASE WHEN @set_expires_at THEN @expires_at ELSE expires_at END
WHERE id = @id AND user_id = @user_id
  AND (@scopes::text[] IS NULL OR @scopes::text[] <@ scopes)
RETURNING id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
          rolled_from_id

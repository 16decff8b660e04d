-- bench: fresh statistics and visibility map after the bulk load.
VACUUM (ANALYZE) users, api_keys

-- bench: bulk-load API keys (binary COPY). Columns in the order the seeder writes them.
COPY api_keys (user_id, name, prefix, token_hash, created_at) FROM STDIN (FORMAT BINARY)

-- bench: bulk-load users (binary COPY). Columns in the order the seeder writes them.
COPY users (email, name, role, created_at) FROM STDIN (FORMAT BINARY)

-- The users: the same fields as a [users.NAME] table of the TOML users file.
CREATE TABLE wharf_users (
    name                text PRIMARY KEY
                        CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$'),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    -- An absolute directory, or a key prefix in object storage (`alice/`).
    home                text NOT NULL CHECK (home LIKE '/%'
                        OR (home ~ '^([^/]+/)+$' AND home !~ '(^|/)\.{1,2}/')),
    quota_bytes         bigint CHECK (quota_bytes >= 0),
    quota_files         bigint CHECK (quota_files >= 0),
    allow_exec          boolean NOT NULL DEFAULT false,
    authorized_keys     text[] NOT NULL DEFAULT '{}',
    uid                 bigint CHECK (uid >= 0 AND uid < 4294967295),
    gid                 bigint CHECK (gid >= 0 AND gid < 4294967295),
    allow_network       boolean NOT NULL DEFAULT false,
    limit_cpu_seconds   bigint CHECK (limit_cpu_seconds > 0),
    limit_address_space bigint CHECK (limit_address_space > 0),
    limit_processes     bigint CHECK (limit_processes > 0),
    limit_open_files    bigint CHECK (limit_open_files > 0),
    limit_file_size     bigint CHECK (limit_file_size > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Quota usage every daemon on the database shares. `bytes` and `files` are what the user had
-- when the last session ended (or the home was last counted); each attached session has a
-- lease row holding what it added or removed since, plus headroom granted to it. A user's usage
-- is the usage row plus every lease row, so it is never below what is stored and in flight.
-- A lease whose daemon died stops being renewed; it counts until the user is next idle, when
-- the home is counted again (`generation` changes with every attach and detach, so a count that
-- raced a session is thrown away).
CREATE TABLE wharf_quota_usage (
    user_name  text PRIMARY KEY,
    bytes      bigint NOT NULL DEFAULT 0,
    files      bigint NOT NULL DEFAULT 0,
    counted    boolean NOT NULL DEFAULT false,
    generation bigint NOT NULL DEFAULT 0
);

CREATE TABLE wharf_quota_leases (
    id          text PRIMARY KEY,
    user_name   text NOT NULL,
    node        text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    files       bigint NOT NULL DEFAULT 0,
    lease_until timestamptz NOT NULL
);
CREATE INDEX wharf_quota_leases_user ON wharf_quota_leases (user_name, lease_until);

-- State every daemon on the database shares: failed logins, bans and live sessions.
-- A subject is 'address:IP' or 'user:NAME'. Times are the database's clock, so daemons on
-- machines whose clocks differ still agree.
CREATE TABLE wharf_login_failures (
    subject text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wharf_login_failures_subject_at ON wharf_login_failures (subject, at);
CREATE INDEX wharf_login_failures_at ON wharf_login_failures (at);

CREATE TABLE wharf_bans (
    subject text PRIMARY KEY,
    until   timestamptz NOT NULL
);

-- One row per live session; it counts while its lease is in the future, and its daemon
-- renews the lease while the session lives, so a killed daemon's sessions stop counting.
CREATE TABLE wharf_sessions (
    id          text PRIMARY KEY,
    address     text NOT NULL,
    user_name   text NOT NULL,
    node        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
);
CREATE INDEX wharf_sessions_address ON wharf_sessions (address, lease_until);
CREATE INDEX wharf_sessions_user ON wharf_sessions (user_name, lease_until);

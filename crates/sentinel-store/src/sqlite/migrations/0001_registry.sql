-- Registry: regions, venues, persons (personal fields encrypted), devices, users, tokens, audit.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    parent_code TEXT,
    level       TEXT NOT NULL,
    name_zh     TEXT NOT NULL,
    name_en     TEXT
);
CREATE INDEX regions_parent ON regions (parent_code);

CREATE TABLE venues (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    address     TEXT NOT NULL,
    lat         REAL,
    lon         REAL,
    capacity    INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX venues_region ON venues (region_code);
CREATE INDEX venues_category ON venues (category);

CREATE TABLE persons (
    id             INTEGER PRIMARY KEY,
    region_code    TEXT NOT NULL REFERENCES regions (code),
    id_number_enc  BLOB NOT NULL,
    id_number_bidx BLOB NOT NULL UNIQUE,
    name_enc       BLOB NOT NULL,
    phone_enc      BLOB,
    phone_bidx     BLOB,
    address_enc    BLOB,
    created_at     INTEGER NOT NULL
);
CREATE INDEX persons_phone ON persons (phone_bidx);
CREATE INDEX persons_region ON persons (region_code);

CREATE TABLE devices (
    id         INTEGER PRIMARY KEY,
    venue_id   INTEGER NOT NULL REFERENCES venues (id),
    kind       TEXT NOT NULL,
    serial     TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX devices_venue ON devices (venue_id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    display_name  TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT,
    csrf_token TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT,
    purpose    TEXT,
    detail     TEXT,
    request_id TEXT
);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_actor ON audit_log (actor);

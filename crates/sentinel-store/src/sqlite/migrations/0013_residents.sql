-- The residents' own channel: poster versions, one-time sign-in codes, resident sessions, family members.
ALTER TABLE venues ADD COLUMN place_code_version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE resident_otps (
    id         INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES persons (id),
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    used_at    INTEGER
);
CREATE INDEX resident_otps_person ON resident_otps (person_id, created_at);

CREATE TABLE resident_sessions (
    token_hash BLOB PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES persons (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE guardianships (
    guardian_id  INTEGER NOT NULL REFERENCES persons (id),
    dependant_id INTEGER NOT NULL REFERENCES persons (id),
    relation     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (guardian_id, dependant_id)
);

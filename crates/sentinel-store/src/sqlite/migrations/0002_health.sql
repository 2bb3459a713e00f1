-- Health registry (code assignments, appeals, NAT, vaccinations, itineraries, risk areas) and
-- credentials (signing keys, issued paper codes, revocation log).
CREATE TABLE code_assignments (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons (id),
    colour      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER,
    lifted_at   INTEGER,
    lifted_by   TEXT,
    lift_reason TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX code_assignments_person ON code_assignments (person_id);

CREATE TABLE appeals (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL REFERENCES code_assignments (id),
    filed_by      TEXT NOT NULL,
    statement     TEXT NOT NULL,
    filed_at      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    decided_by    TEXT,
    decision_note TEXT,
    decided_at    INTEGER
);
CREATE INDEX appeals_assignment ON appeals (assignment_id);

CREATE TABLE nat_results (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons (id),
    sampled_at  INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    lab         TEXT,
    source_id   TEXT UNIQUE,
    created_at  INTEGER NOT NULL,
    UNIQUE (person_id, sampled_at, kind)
);

CREATE TABLE vaccinations (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons (id),
    dose         INTEGER NOT NULL,
    date         TEXT NOT NULL,
    product      TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (person_id, dose)
);

CREATE TABLE itineraries (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons (id),
    region_code TEXT NOT NULL,
    date_from   TEXT NOT NULL,
    date_to     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (person_id, region_code, date_from, date_to)
);

CREATE TABLE risk_areas (
    id             INTEGER PRIMARY KEY,
    region_code    TEXT NOT NULL,
    name           TEXT NOT NULL,
    level          TEXT NOT NULL,
    effective_from INTEGER NOT NULL,
    effective_to   INTEGER,
    published_by   TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    public_key BLOB NOT NULL,
    secret_enc BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER,
    retired_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE credentials (
    token_id   BLOB PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES persons (id),
    kind       TEXT NOT NULL,
    kid        TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    issued_by  TEXT NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX credentials_person ON credentials (person_id);

CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY,
    token_id   BLOB NOT NULL UNIQUE,
    revoked_at INTEGER NOT NULL,
    reason     TEXT NOT NULL
);

-- Entry check: versioned policies, device tokens, visits and the alerts they raise.
CREATE TABLE policies (
    id             INTEGER PRIMARY KEY,
    scope_kind     TEXT NOT NULL,
    scope_value    TEXT NOT NULL,
    version        INTEGER NOT NULL,
    body           TEXT NOT NULL,
    status         TEXT NOT NULL,
    effective_from INTEGER,
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    published_by   TEXT,
    published_at   INTEGER,
    UNIQUE (scope_kind, scope_value, version)
);

ALTER TABLE devices ADD COLUMN token_hash BLOB;
CREATE UNIQUE INDEX devices_token ON devices (token_hash);

CREATE TABLE visits (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER,
    venue_id        INTEGER NOT NULL,
    device_id       INTEGER,
    channel         TEXT NOT NULL,
    entered_at      INTEGER NOT NULL,
    left_at         INTEGER,
    outcome         TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    policy_id       INTEGER,
    temperature_c   REAL,
    mask            INTEGER,
    idempotency_key TEXT,
    registrar       TEXT
);
CREATE INDEX visits_venue_time ON visits (venue_id, entered_at);
CREATE INDEX visits_person_time ON visits (person_id, entered_at);
CREATE UNIQUE INDEX visits_idempotency ON visits (device_id, idempotency_key);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    visit_id        INTEGER REFERENCES visits (id),
    venue_id        INTEGER NOT NULL,
    person_id       INTEGER,
    region_code     TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT,
    note            TEXT
);
CREATE INDEX alerts_status ON alerts (status, id);

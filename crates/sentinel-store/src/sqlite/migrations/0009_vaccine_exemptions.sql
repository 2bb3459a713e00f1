-- Medical exemptions from vaccination on record (certificate's reason category, issuer and dates; no diagnosis).
CREATE TABLE vaccine_exemptions (
    id         INTEGER PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES persons (id),
    reason     TEXT NOT NULL,
    issued_by  TEXT NOT NULL,
    date_from  TEXT NOT NULL,
    date_until TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (person_id, issued_by, date_from)
);

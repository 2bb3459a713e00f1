-- Exposure tracing: investigators' cases and the contacts their last trace found. A case's status follows
-- from its times: closed once closed_at is set, else applied once applied_at is set, else open.
CREATE TABLE trace_cases (
    id               INTEGER PRIMARY KEY,
    person_id        INTEGER NOT NULL REFERENCES persons (id),
    onset_at         INTEGER NOT NULL,
    onset_kind       TEXT NOT NULL,
    rule_set         TEXT NOT NULL,
    rule_set_version INTEGER NOT NULL,
    opened_by        TEXT NOT NULL,
    opened_at        INTEGER NOT NULL,
    traced_at        INTEGER,
    applied_at       INTEGER,
    closed_at        INTEGER,
    closed_by        TEXT
);

-- One row per contact of a case's last trace; replaced by each re-run.
CREATE TABLE case_contacts (
    case_id       INTEGER NOT NULL REFERENCES trace_cases (id),
    person_id     INTEGER NOT NULL,
    tier          TEXT NOT NULL,
    venue_id      INTEGER NOT NULL,
    via_person_id INTEGER NOT NULL,
    from_at       INTEGER NOT NULL,
    to_at         INTEGER NOT NULL,
    overlap_secs  INTEGER NOT NULL,
    exposures     INTEGER NOT NULL,
    assignment_id INTEGER REFERENCES code_assignments (id),
    PRIMARY KEY (case_id, person_id)
) WITHOUT ROWID;

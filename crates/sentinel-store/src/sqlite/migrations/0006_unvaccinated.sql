-- 未接种登记: staff record an unvaccinated person's details at the gate (personal fields encrypted).
CREATE TABLE unvaccinated_registrations (
    id          INTEGER PRIMARY KEY,
    venue_id    INTEGER NOT NULL REFERENCES venues (id),
    person_id   INTEGER,
    name_enc    BLOB NOT NULL,
    phone_enc   BLOB,
    address_enc BLOB,
    home_region TEXT NOT NULL,
    reason      TEXT NOT NULL,
    registrar   TEXT NOT NULL,
    alert_id    INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX unvaccinated_home ON unvaccinated_registrations (home_region);

-- A log of persons whose health records changed, so every node (and a command-line import) can tell the
-- servers' status caches what to forget.
CREATE TABLE health_changes (
    seq       INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL,
    at        INTEGER NOT NULL
);

-- A registration sent again (a staff tablet retrying after a timeout) is the same registration, reported once.
ALTER TABLE unvaccinated_registrations ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX unvaccinated_idempotency ON unvaccinated_registrations (venue_id, idempotency_key);

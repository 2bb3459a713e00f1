-- Escalation: an alert not acknowledged in time is pushed up a level (community → street → district).
ALTER TABLE alerts ADD COLUMN level BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN escalated_at BIGINT;

-- The policy a decision used, by its label: with the meet of venue, category and city policies one id
-- cannot name it ("venue:7 v2 ∧ city v3"); a retried scan answers with it too.
ALTER TABLE visits ADD COLUMN policy_version TEXT;

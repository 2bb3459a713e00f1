-- The prompt a scan was answered with, so a retried scan gets the same answer.
ALTER TABLE visits ADD COLUMN prompt_zh TEXT;
ALTER TABLE visits ADD COLUMN prompt_en TEXT;

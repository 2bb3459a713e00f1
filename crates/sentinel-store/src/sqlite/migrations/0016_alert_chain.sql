-- Alerts climb grid → community → street → district, one level per escalation, from the region they were
-- raised in (before: grid and community together, then street, then district). A region webhook's
-- audience_level is now its region's escalation rank (grid 3, community 2, street 1, district and above 0)
-- and hears an alert when the alert's region rank minus its escalations equals it.
UPDATE webhooks SET audience_level = CASE length(region_prefix) WHEN 15 THEN 3 WHEN 12 THEN 2 WHEN 9 THEN 1 ELSE 0 END
 WHERE region_prefix IS NOT NULL;
-- Open escalated alerts keep their audience: the street (was level 1) is its rank-1 level, the district
-- (was 2) the region's whole rank. Closed ones are left as they were: no stream or webhook is owed them, and
-- on PostgreSQL an update would announce them to every node's live streams again.
UPDATE alerts SET level = CASE
    WHEN level = 0 THEN 0
    WHEN level = 1 THEN (CASE length(region_code) WHEN 15 THEN 2 WHEN 12 THEN 1 ELSE 0 END)
    ELSE (CASE length(region_code) WHEN 15 THEN 3 WHEN 12 THEN 2 WHEN 9 THEN 1 ELSE 0 END)
END
 WHERE level > 0 AND status = 'open';

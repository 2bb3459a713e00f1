-- A webhook may serve one region (a community's WeCom group, a street office's robot): it hears the alerts
-- of that subtree at the level the live streams do. NULL region: every alert of the deployment.
ALTER TABLE webhooks ADD COLUMN region_code TEXT;
ALTER TABLE webhooks ADD COLUMN region_prefix TEXT;
ALTER TABLE webhooks ADD COLUMN audience_level BIGINT;

-- Every node's live alert streams hear alerts committed by any node: a new alert, and an alert escalated to
-- a new level, are announced on channel sentinel_alerts as "id:level" when their transaction commits.
CREATE FUNCTION sentinel_notify_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sentinel_alerts', NEW.id::text || ':' || NEW.level::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER alerts_notify_insert AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION sentinel_notify_alert();
CREATE TRIGGER alerts_notify_level AFTER UPDATE OF level ON alerts
    FOR EACH ROW WHEN (NEW.level <> OLD.level) EXECUTE FUNCTION sentinel_notify_alert();

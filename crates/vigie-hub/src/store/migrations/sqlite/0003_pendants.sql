-- GSM SOS pendants: a pendant is known by the number of its own SIM and
-- registered for one shop. Any SMS from that number is read by
-- vigie_core::pendant; the alarm it raises has the shop's escalation.

-- One pendant in service per number (a removed one keeps its row, and
-- its messages their pendant).
CREATE TABLE IF NOT EXISTS pendants (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,                     -- E.164
    shop_id INTEGER NOT NULL REFERENCES shops(id),
    patterns TEXT NOT NULL,                  -- JSON array of its non-alarm patterns, as typed
    created_at INTEGER NOT NULL,
    removed_at INTEGER                       -- NULL: in service
);
CREATE UNIQUE INDEX IF NOT EXISTS pendants_phone_in_service ON pendants(phone) WHERE removed_at IS NULL;
CREATE INDEX IF NOT EXISTS pendants_shop ON pendants(shop_id);

-- Every SMS a pendant sent: what it meant and what it did. The text and
-- the gateway are in inbound_sms, as for any SMS received.
CREATE TABLE IF NOT EXISTS pendant_messages (
    id INTEGER PRIMARY KEY,
    pendant_id INTEGER NOT NULL REFERENCES pendants(id),
    shop_id INTEGER NOT NULL,
    inbound_id INTEGER NOT NULL,             -- the inbound_sms row
    at INTEGER NOT NULL,
    meaning TEXT NOT NULL,                   -- alarm | cancel_or_answer | low_battery | charging | power_on | power_off | heartbeat | setting_confirmed | pattern
    lat REAL,                                -- where the text said the pendant was; NULL: it did not say
    lon REAL,
    alarm_id TEXT,                           -- the alarm it raised or was recorded on
    raised INTEGER NOT NULL,                 -- 1: this SMS raised alarm_id
    flood INTEGER NOT NULL                   -- 1: part of a flood from this number
);
CREATE INDEX IF NOT EXISTS pendant_messages_pendant ON pendant_messages(pendant_id, at);
CREATE INDEX IF NOT EXISTS pendant_messages_alarm ON pendant_messages(alarm_id) WHERE alarm_id IS NOT NULL;

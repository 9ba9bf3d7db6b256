-- SIA DC-09 receiver: alarm panels and transmitters registered per shop,
-- the frames received lately (to acknowledge a retransmission again
-- without a second alarm), and what panels reported.

-- One transmitter (or panel) per DC-09 account. The account is kept as
-- sent, in upper case, leading zeros included.
CREATE TABLE IF NOT EXISTS transmitters (
    account TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES shops(id),
    key_hex TEXT,                            -- the AES key's bytes in hex; NULL: clear frames only
    window_before_s INTEGER,                 -- a frame may be this much older than the hub's clock; NULL: [dc09] window_before_s
    window_after_s INTEGER,                  -- and this much newer; NULL: [dc09] window_after_s
    supervision_interval_s INTEGER,          -- expected traffic at least this often; NULL: not watched
    last_seen_at INTEGER,                    -- hub's clock at the last frame accepted
    silent_since INTEGER,                    -- when flagged silent; NULL: not flagged
    holder_told_silent INTEGER NOT NULL DEFAULT 0, -- what the holder was last told: that it is silent
    created_at INTEGER NOT NULL,
    removed_at INTEGER                       -- NULL: in service
);
CREATE INDEX IF NOT EXISTS transmitters_shop ON transmitters(shop_id);

-- A frame accepted in the last minutes: (account, seq, digest of token and data).
CREATE TABLE IF NOT EXISTS panel_frames (
    account TEXT NOT NULL,
    seq INTEGER NOT NULL,
    digest TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (account, seq, digest)
);

-- What panels reported: alarms (with the alarm they raised), troubles,
-- restores, tests, link tests, status, and the receiver's own silence flags.
CREATE TABLE IF NOT EXISTS panel_events (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    shop_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,                      -- alarm | trouble | restore | test | status | silent | back
    code TEXT NOT NULL,                      -- Contact ID "1120", SIA "PA", "NULL", or the receiver's own
    zone TEXT NOT NULL,
    silent INTEGER NOT NULL,                 -- duress or silent hold-up: nothing towards the premises
    alarm_id TEXT,
    detail TEXT NOT NULL                     -- JSON
);
CREATE INDEX IF NOT EXISTS panel_events_shop ON panel_events(shop_id, id);
CREATE INDEX IF NOT EXISTS panel_events_alarm ON panel_events(alarm_id) WHERE alarm_id IS NOT NULL;

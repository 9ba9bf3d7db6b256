-- Vigie hub schema, version 1. Portable SQL: INTEGER/TEXT/REAL columns,
-- times as INTEGER milliseconds since the Unix epoch (UTC), booleans as 0/1,
-- ids of alarms as TEXT UUIDs minted by the box.

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS shops (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,          -- the Region's own reference for the shop
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    insee TEXT NOT NULL,                     -- commune's INSEE code
    commune TEXT NOT NULL,
    postcode TEXT NOT NULL,
    departement TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    rural INTEGER NOT NULL,
    holder_name TEXT NOT NULL,
    holder_phone TEXT NOT NULL,
    holder_sms INTEGER NOT NULL DEFAULT 1,   -- confirm alarms to the holder's phone by SMS
    opening_hours TEXT NOT NULL,             -- e.g. "mo-sa 07:00-19:30"
    tier_timeout_s INTEGER,                  -- this shop's escalation policy; NULL: the Region's
    escalation_repeat INTEGER,
    created_at INTEGER NOT NULL
);

-- A contact with shop_id NULL is registered by the Region for every shop
-- (police, desk) at its tier.
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY,
    shop_id INTEGER REFERENCES shops(id),
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    relation TEXT NOT NULL,                  -- friend | neighbour | police | desk
    tier INTEGER NOT NULL,
    consent TEXT NOT NULL,                   -- pending | yes | no | lapsed
    consent_at INTEGER,
    consent_token TEXT NOT NULL UNIQUE,
    bounced INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    removed_at INTEGER                       -- NULL: current; set: no more alarms, kept for past alarms' names
);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_shop_phone ON contacts(shop_id, phone) WHERE removed_at IS NULL;
CREATE INDEX IF NOT EXISTS contacts_phone ON contacts(phone);

CREATE TABLE IF NOT EXISTS enrolment_codes (
    code TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES shops(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    device_id TEXT,
    serial TEXT                              -- the box this code is for (assign_hardware); NULL: any box
);

CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES shops(id),
    public_key TEXT NOT NULL,
    state TEXT NOT NULL,                     -- enrolled | active | faulty | returned
    version TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    last_seen_at INTEGER
);

CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES shops(id),
    device_id TEXT NOT NULL,
    code TEXT NOT NULL,
    state TEXT NOT NULL,                     -- open | acknowledged | resolved | cancelled
    pressed_at INTEGER NOT NULL,             -- on the hub's clock: received_at - age
    device_pressed_at INTEGER NOT NULL,      -- on the box's clock, for the cancel window
    received_at INTEGER NOT NULL,
    age_ms INTEGER,                          -- set when the press arrived late
    recording INTEGER NOT NULL,
    step INTEGER NOT NULL,                   -- the next escalation step
    next_step_at INTEGER,                    -- NULL: no further step planned
    exhausted INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    closed_at INTEGER,
    closed_by TEXT
);
CREATE INDEX IF NOT EXISTS alarms_due ON alarms(next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS alarms_shop ON alarms(shop_id, received_at);

-- Links in SMS: one unguessable token per (alarm, contact).
CREATE TABLE IF NOT EXISTS answer_links (
    token TEXT PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS answer_links_alarm_contact ON answer_links(alarm_id, contact_id);

CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    answer TEXT NOT NULL,                    -- coming | calling_police | unavailable
    via TEXT NOT NULL,                       -- web | sms
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_alarm ON answers(alarm_id);

-- Every SMS, one row per attempt. dedup_key names what the message is for
-- (alarm, step, contact, attempt): planning the same step twice inserts nothing.
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    alarm_id TEXT REFERENCES alarms(id),
    contact_id INTEGER REFERENCES contacts(id),
    phone TEXT NOT NULL,
    purpose TEXT NOT NULL,                   -- alert | answer | cancel | resolved | holder | consent | reply
    step INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    priority INTEGER NOT NULL,               -- 0 = an alarm's first SMS; lower goes first
    text TEXT NOT NULL,
    state TEXT NOT NULL,                     -- pending | submitted | delivered | failed
    tries INTEGER NOT NULL DEFAULT 0,
    gateway TEXT,
    message_id TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    submitted_at INTEGER,
    done_at INTEGER
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(priority, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_message ON notifications(gateway, message_id);
CREATE INDEX IF NOT EXISTS notifications_alarm ON notifications(alarm_id);

-- Receipts that arrived before the submit's answer was stored.
CREATE TABLE IF NOT EXISTS early_receipts (
    gateway TEXT NOT NULL,
    message_id TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (gateway, message_id)
);

-- The append-only log of everything that happens to an alarm.
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL                     -- JSON
);
CREATE INDEX IF NOT EXISTS events_alarm ON events(alarm_id, id);

CREATE TABLE IF NOT EXISTS inbound_sms (
    id INTEGER PRIMARY KEY,
    gateway TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL,
    understood TEXT NOT NULL
);

-- Supervision. One row per box that has ever sent a heartbeat: its latest
-- health (heartbeats are kept in memory and written here in batches, never
-- one row per heartbeat) and what supervision decided and told the holder.
CREATE TABLE IF NOT EXISTS device_health (
    device_id TEXT PRIMARY KEY REFERENCES devices(id),
    last_seen_at INTEGER NOT NULL,           -- hub's clock when the last heartbeat arrived
    box_sent_at INTEGER NOT NULL,            -- the box's clock in that heartbeat
    battery_pct INTEGER,                     -- NULL: no battery
    on_mains INTEGER NOT NULL,
    signal_csq INTEGER,                      -- AT+CSQ 0-31, 99 unknown; NULL: not reported
    modem TEXT NOT NULL,                     -- registered | roaming | searching | denied | no_sim | absent
    free_storage_mb INTEGER NOT NULL,
    version TEXT NOT NULL,
    outbox_depth INTEGER NOT NULL,
    uptime_s INTEGER NOT NULL,
    offline_since INTEGER,                   -- when declared offline; NULL while online
    holder_told_offline INTEGER NOT NULL DEFAULT 0, -- what the holder was last told
    clock_offset_ms INTEGER NOT NULL DEFAULT 0,     -- the correction the box applies to its clock (hub − box)
    signed_created_s INTEGER NOT NULL DEFAULT 0     -- the signature's `created` of the last heartbeat: an older one is a replay
);

-- Per shop: the silent end-to-end tests (RaiseAlarm.test).
CREATE TABLE IF NOT EXISTS shop_readiness (
    shop_id INTEGER PRIMARY KEY REFERENCES shops(id),
    last_test_at INTEGER,                    -- last test press received
    last_test_ok_at INTEGER,                 -- its SMS accepted by a gateway
    last_test_delivered_at INTEGER           -- and delivered, when the gateway reports it
);

-- The log of what happens to boxes (offline, back online, holder told).
CREATE TABLE IF NOT EXISTS fleet_events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    shop_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL                     -- JSON
);
CREATE INDEX IF NOT EXISTS fleet_events_device ON fleet_events(device_id, id);

-- The console's inventory: every box the Region bought, by serial number,
-- from stock to a shop (assigned, then enrolled with a code bound to its
-- serial) until it is faulty or returned. "active" is not stored: an
-- enrolled box the hub has heard from is active.
CREATE TABLE IF NOT EXISTS hardware (
    serial TEXT PRIMARY KEY,
    state TEXT NOT NULL,                     -- stock | assigned | enrolled | faulty | returned
    shop_id INTEGER REFERENCES shops(id),
    device_id TEXT REFERENCES devices(id),   -- set at enrolment
    updated_at INTEGER NOT NULL,
    note TEXT                                -- why it is faulty or returned
);
CREATE INDEX IF NOT EXISTS hardware_device ON hardware(device_id) WHERE device_id IS NOT NULL;
-- Statistics over a period: alarms by press time, offline spans by kind.
CREATE INDEX IF NOT EXISTS alarms_pressed ON alarms(pressed_at);
CREATE INDEX IF NOT EXISTS fleet_events_kind ON fleet_events(kind, at);
-- A contact's consent SMS, to space out resent opt-ins.
CREATE INDEX IF NOT EXISTS notifications_contact ON notifications(contact_id, purpose) WHERE contact_id IS NOT NULL;

-- The evidence vault. A recording's audio lives encrypted in blob storage,
-- under a key of its own wrapped by the hub's key; deleting a recording
-- destroys that key. Every chunk record and custody event is a leaf of one
-- append-only Merkle log (RFC 9162); idx runs 0, 1, 2… without gaps.
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    device_id TEXT NOT NULL,
    shop_id INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_chunk_at INTEGER NOT NULL,
    wrapped_key BLOB,                        -- NULL once destroyed
    next_seq INTEGER NOT NULL,
    last_record_hash BLOB NOT NULL,
    final INTEGER NOT NULL DEFAULT 0,
    retention_until INTEGER NOT NULL,
    legal_hold INTEGER NOT NULL DEFAULT 0,
    reminded_at INTEGER,
    deleted_at INTEGER
);

CREATE TABLE IF NOT EXISTS log_entries (
    idx INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                      -- record | custody
    recording_id TEXT NOT NULL,
    seq INTEGER,                             -- the chunk's, for records
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_entries_recording ON log_entries(recording_id, idx);

CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    body BLOB NOT NULL,                      -- the signed checkpoint file
    at INTEGER NOT NULL,
    tsa_token BLOB                           -- RFC 3161 token over body, when obtained
);

-- The console. People who run the programme sign in with an account; a
-- session is known by the SHA-256 of its cookie (the cookie itself is never
-- stored); every sensitive action leaves a line in the audit log.
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,           -- lower case
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,                      -- admin | operator | shopkeeper | investigator
    shop_id INTEGER REFERENCES shops(id),    -- a shopkeeper's own shop
    password_hash TEXT NOT NULL,             -- Argon2id, PHC string
    totp_secret TEXT,                        -- base32; NULL: no second factor yet
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    csrf TEXT NOT NULL,
    second_factor_ok INTEGER NOT NULL,       -- 0 until the TOTP code was given (when required)
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account_id);

CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    account_id INTEGER,
    username TEXT NOT NULL,
    action TEXT NOT NULL,                    -- sign_in | sign_in_failed | listen | export | resolve | …
    target TEXT NOT NULL,                    -- what it was done to (alarm id, recording id, shop…)
    reason TEXT,                             -- given by investigators before evidence access
    detail TEXT NOT NULL                     -- JSON
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);

-- The hub's clock. `hub_clock` is what the hub last wrote of its time (and
-- the machine's boot and uptime then), to tell at the next start whether
-- the wall clock stepped while it was stopped; `clock_steps` are the steps
-- it saw and adopted, every pending deadline moved by `delta_ms`.
CREATE TABLE IF NOT EXISTS hub_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hub_ms INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    uptime_ms INTEGER NOT NULL
);
-- Nonces of signed state-changing requests (cancel, recording, chunks,
-- direct reports), kept past a restart for as long as their `created` is
-- within the signature window; pruned by the supervision pass.
CREATE TABLE IF NOT EXISTS request_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_s INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS request_nonces_created ON request_nonces(created_s);
CREATE TABLE IF NOT EXISTS clock_steps (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,                     -- the hub's time once adopted
    delta_ms INTEGER NOT NULL,               -- how far the wall clock moved beyond the time that passed
    seen TEXT NOT NULL                       -- running | at_start
);

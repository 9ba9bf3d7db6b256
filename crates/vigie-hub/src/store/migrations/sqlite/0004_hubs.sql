-- Several hubs on one database. Each engine module (escalation, dispatch,
-- supervision, vault) runs its passes on the one hub that holds its lease;
-- a dead hub's lease expires and another hub takes it.
CREATE TABLE IF NOT EXISTS leases (
    module TEXT PRIMARY KEY,                 -- escalation | dispatch | supervision | vault
    holder TEXT NOT NULL,                    -- the holding hub's id
    token BIGINT NOT NULL,                   -- one more at each change of holder (a fencing token)
    expires_at BIGINT NOT NULL               -- ms since the epoch, on the holder's clock
);

-- The last TOTP step an account signed in with, shared by every hub: a
-- code is good once, whichever hub it is typed on. NULL: none used yet.
ALTER TABLE accounts ADD COLUMN totp_step BIGINT;

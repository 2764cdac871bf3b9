-- +goose Up
-- Webhooks (issue 16). A webhook's events are notification types, or '*'
-- for all. Its secret is kept as is: HMAC signing needs the key itself, so
-- it cannot be hashed; the API shows it only when the webhook is made.
ALTER TABLE webhooks RENAME COLUMN kinds TO events;
CREATE INDEX webhooks_user ON webhooks (user_id, id);

-- A delivery keeps the exact body it POSTs (signed afresh on each attempt)
-- and when its first attempt was, which bounds its retries. While pending,
-- next_attempt_at is when it is due; a claimed delivery's next_attempt_at
-- is pushed past its attempt's timeout (a lease), so a worker that dies
-- mid-attempt leaves it due again instead of lost.
ALTER TABLE webhook_deliveries
    ADD COLUMN type text NOT NULL DEFAULT '',
    ADD COLUMN payload text NOT NULL DEFAULT '{}',
    ADD COLUMN last_status_code integer,
    ADD COLUMN first_attempt_at timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed'));
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);

-- Every attempt, with the receiver's status code (none when it did not
-- answer) or the error.
CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP INDEX webhook_deliveries_log;
DROP INDEX webhook_deliveries_due;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check,
    DROP COLUMN delivered_at, DROP COLUMN first_attempt_at, DROP COLUMN last_status_code,
    DROP COLUMN payload, DROP COLUMN type;
DROP INDEX webhooks_user;
ALTER TABLE webhooks RENAME COLUMN events TO kinds;

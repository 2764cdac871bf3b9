-- +goose Up
-- The trace id (W3C trace-id, 32 hex digits) of the request or message
-- behind each status change, and of each outbox message, which the relay
-- puts back into the message's headers. NULL where none was known (rows
-- from before, commands sent without one).
ALTER TABLE booking_history ADD COLUMN trace_id text;
ALTER TABLE outbox ADD COLUMN trace_id text;

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace_id;
ALTER TABLE booking_history DROP COLUMN trace_id;

-- +goose Up
-- The inbox (issue 16): the notifications table takes the contract's names
-- (evently.Notification: type, data) and the indexes its reads use: a
-- user's page, newest first, and the unread count. created_at is when the
-- notifier wrote the row; one partition owns a user, so a user's rows are
-- written in order and (created_at, id) is the stream's resume order.
ALTER TABLE notifications RENAME COLUMN kind TO type;
ALTER TABLE notifications RENAME COLUMN body TO data;
DROP INDEX notifications_user;
CREATE INDEX notifications_user_newest ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
-- The promoter's sweep reminds an offer once before it expires
-- (waitlist.offer_expiring).
ALTER TABLE waitlist_entries ADD COLUMN offer_reminded boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE waitlist_entries DROP COLUMN offer_reminded;
DROP INDEX notifications_unread;
DROP INDEX notifications_user_newest;
CREATE INDEX notifications_user ON notifications (user_id, id DESC);
ALTER TABLE notifications RENAME COLUMN data TO body;
ALTER TABLE notifications RENAME COLUMN type TO kind;

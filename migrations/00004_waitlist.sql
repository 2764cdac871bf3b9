-- +goose Up
-- The waitlist (issue 16): entries end 'booked' (was 'fulfilled'), may ask
-- for a tier, and remember the seats of their offer. offer_open is true
-- while an offer's seats are not settled (offered, or left/expired before
-- the promoter passed them on): the promoter's sweep looks only at those.
ALTER TABLE waitlist_entries DROP CONSTRAINT waitlist_entries_status_check;
UPDATE waitlist_entries SET status = 'booked' WHERE status = 'fulfilled';
ALTER TABLE waitlist_entries ADD CONSTRAINT waitlist_entries_status_check
    CHECK (status IN ('waiting', 'offered', 'booked', 'expired', 'left'));
ALTER TABLE waitlist_entries
    ADD COLUMN tier text NOT NULL DEFAULT '',
    ADD COLUMN offer_seat_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN offer_open boolean NOT NULL DEFAULT false;
CREATE INDEX waitlist_open_offers ON waitlist_entries (event_id) WHERE offer_open;
CREATE INDEX waitlist_user ON waitlist_entries (user_id, id DESC);

-- +goose Down
DROP INDEX waitlist_user;
DROP INDEX waitlist_open_offers;
ALTER TABLE waitlist_entries DROP COLUMN offer_open, DROP COLUMN offer_seat_ids, DROP COLUMN tier;
ALTER TABLE waitlist_entries DROP CONSTRAINT waitlist_entries_status_check;
UPDATE waitlist_entries SET status = 'fulfilled' WHERE status = 'booked';
ALTER TABLE waitlist_entries ADD CONSTRAINT waitlist_entries_status_check
    CHECK (status IN ('waiting', 'offered', 'fulfilled', 'left', 'expired'));

-- +goose Up
-- Catalog lookups: a venue cannot change while an event uses it (checked on
-- every venue PATCH/DELETE), organizers list their own venues, and the seat
-- map joins event seats to their venue's seats in layout order (ordinal:
-- the position in the layout description, since labels do not sort
-- naturally: "AA" comes after "Z", "10" after "9").
ALTER TABLE seats ADD COLUMN ordinal integer NOT NULL DEFAULT 0;
CREATE INDEX events_venue ON events (venue_id);
CREATE INDEX venues_owner ON venues (owner_id, id);
-- Discovery filters by status first; (status, starts_at, id) serves the
-- default listing (published, by date) with keyset pagination.
CREATE INDEX events_status_listing ON events (status, starts_at, id);

-- +goose Down
DROP INDEX events_status_listing;
DROP INDEX venues_owner;
DROP INDEX events_venue;
ALTER TABLE seats DROP COLUMN ordinal;

-- +goose Up
-- The child rows the booking worker writes in every batch (a booking's
-- seats, history and payments) and the inbox rows the notifier writes
-- carry no foreign keys. Each key checked cost a query per row inside
-- PostgreSQL and a KEY SHARE lock on the parent row, itself a write to
-- that row (its xmax, and a WAL record): the insert of one inbox row cost
-- twice what it would without its key. The references hold by
-- construction: bookings and users are never deleted (a booking is
-- cancelled, not removed); a booking's seats, history and payments are
-- written in the statement that writes the booking, or later for a booking
-- read in the same transaction; the inbox insert joins users and drops a
-- notification for an unknown user. The booking's own keys (its user and
-- its event) stay: they are what refuses a command for a user or an event
-- that does not exist. The integrity audit (store/integrity.go) checks that
-- no child row lacks its parent.
ALTER TABLE booking_seats DROP CONSTRAINT booking_seats_booking_id_fkey;
ALTER TABLE booking_history DROP CONSTRAINT booking_history_booking_id_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_booking_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_fkey;

-- +goose Down
ALTER TABLE booking_seats ADD CONSTRAINT booking_seats_booking_id_fkey FOREIGN KEY (booking_id) REFERENCES bookings (id) ON DELETE CASCADE;
ALTER TABLE booking_history ADD CONSTRAINT booking_history_booking_id_fkey FOREIGN KEY (booking_id) REFERENCES bookings (id) ON DELETE CASCADE;
ALTER TABLE payments ADD CONSTRAINT payments_booking_id_fkey FOREIGN KEY (booking_id) REFERENCES bookings (id);
ALTER TABLE notifications ADD CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;

-- +goose Up
-- The booking worker writes a batch of book commands as one statement with
-- no transaction around it (store.Bookings.commitBooks): the check that its
-- version-checked seat update sold every seat it won must abort that very
-- statement, so it is made in SQL. serialization_failure: the batch is
-- retried and decided again on what the seats are now.
-- +goose StatementBegin
CREATE FUNCTION evently_check_sold(sold bigint, want bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF sold <> want THEN
        RAISE EXCEPTION 'stale version: sold % of % seats', sold, want USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN sold;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION evently_check_sold(bigint, bigint);

-- +goose Up
-- The first schema: identity, catalog, bookings with optimistic locking,
-- payments, waitlist, notifications, and the tables the pipeline needs to be
-- idempotent (processed_messages) and to never lose a downstream message
-- (outbox).

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    full_name     text NOT NULL DEFAULT '',
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'organizer', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    password_hash bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique regardless of case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens rotate on every use; a family is one login's chain. Only a
-- hash of the token is stored.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor_id   uuid,
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    ip         text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created ON audit_log (created_at DESC, id DESC);

CREATE TABLE venues (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id),
    name       text NOT NULL,
    city       text NOT NULL DEFAULT '',
    address    text NOT NULL DEFAULT '',
    time_zone  text NOT NULL DEFAULT 'UTC',
    capacity   integer NOT NULL DEFAULT 0,
    layout     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE seats (
    venue_id   uuid NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    id         text NOT NULL,
    section    text NOT NULL,
    row_label  text NOT NULL,
    number     integer NOT NULL,
    x          double precision NOT NULL DEFAULT 0,
    y          double precision NOT NULL DEFAULT 0,
    accessible boolean NOT NULL DEFAULT false,
    PRIMARY KEY (venue_id, id)
);

CREATE TABLE events (
    id             uuid PRIMARY KEY,
    venue_id       uuid NOT NULL REFERENCES venues (id),
    organizer_id   uuid NOT NULL REFERENCES users (id),
    title          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    category       text NOT NULL DEFAULT '',
    city           text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'cancelled')),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    sales_start_at timestamptz,
    sales_end_at   timestamptz,
    currency       text NOT NULL DEFAULT 'USD',
    tiers          jsonb NOT NULL DEFAULT '[]',
    capacity       integer NOT NULL DEFAULT 0,
    version        bigint NOT NULL DEFAULT 1,
    search         tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(category, '') || ' ' || coalesce(city, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(description, '')), 'C')
    ) STORED,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX events_search ON events USING gin (search);
CREATE INDEX events_listing ON events (starts_at, id);
CREATE INDEX events_organizer ON events (organizer_id);

-- One row per sellable seat. Every change bumps version and is checked by
-- its affected row count: the first guard against a double sale.
CREATE TABLE event_seats (
    event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seat_id     text NOT NULL,
    section     text NOT NULL DEFAULT '',
    row_label   text NOT NULL DEFAULT '',
    number      integer NOT NULL DEFAULT 0,
    tier        text NOT NULL DEFAULT '',
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    status      text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'sold')),
    booking_id  uuid,
    version     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (event_id, seat_id),
    CHECK ((status = 'sold') = (booking_id IS NOT NULL))
);
CREATE INDEX event_seats_available ON event_seats (event_id) WHERE status = 'available';

CREATE TABLE bookings (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    event_id        uuid NOT NULL REFERENCES events (id),
    hold_id         uuid,
    status          text NOT NULL CHECK (status IN ('pending', 'reserved', 'paying', 'confirmed', 'failed', 'expired', 'cancelled')),
    reason          text,
    amount_cents    bigint NOT NULL DEFAULT 0,
    currency        text NOT NULL DEFAULT 'USD',
    idempotency_key text,
    payment_token   text,
    expires_at      timestamptz,
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bookings_idempotency ON bookings (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bookings_user ON bookings (user_id, id DESC);
CREATE INDEX bookings_event ON bookings (event_id, status);
CREATE INDEX bookings_deadline ON bookings (expires_at) WHERE status IN ('reserved', 'paying');

-- The second guard: a seat belongs to at most one active booking.
CREATE TABLE booking_seats (
    booking_id  uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL,
    seat_id     text NOT NULL,
    price_cents bigint NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id)
);
CREATE UNIQUE INDEX booking_seats_one_active ON booking_seats (event_id, seat_id) WHERE active;

-- Every status change, for streams, analytics and time-to-terminal figures.
CREATE TABLE booking_history (
    id         bigserial PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    status     text NOT NULL,
    reason     text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_history_booking ON booking_history (booking_id, id);

CREATE TABLE payments (
    id              uuid PRIMARY KEY,
    booking_id      uuid NOT NULL REFERENCES bookings (id),
    kind            text NOT NULL CHECK (kind IN ('charge', 'refund')),
    idempotency_key text NOT NULL UNIQUE,
    status          text NOT NULL,
    amount_cents    bigint NOT NULL,
    currency        text NOT NULL,
    gateway_ref     text,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_booking ON payments (booking_id);

CREATE TABLE waitlist_entries (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id),
    party_size    integer NOT NULL CHECK (party_size BETWEEN 1 AND 10),
    status        text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'fulfilled', 'left', 'expired')),
    offered_hold_id uuid,
    offer_expires_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX waitlist_one_per_user ON waitlist_entries (event_id, user_id) WHERE status IN ('waiting', 'offered');
CREATE INDEX waitlist_queue ON waitlist_entries (event_id, created_at, id) WHERE status = 'waiting';

CREATE TABLE notifications (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    body       jsonb NOT NULL DEFAULT '{}',
    read_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user ON notifications (user_id, id DESC);

CREATE TABLE webhooks (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        text NOT NULL,
    secret     text NOT NULL,
    kinds      text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    notification_id uuid NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, notification_id)
);

-- Consumers record each message id they applied, in the same transaction as
-- the effect, so a redelivery changes nothing.
CREATE TABLE processed_messages (
    consumer     text NOT NULL,
    message_id   uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Downstream messages written in the same transaction as the state change
-- that caused them; sent right after the commit, swept by a relay if the
-- process died in between.
CREATE TABLE outbox (
    id         uuid PRIMARY KEY,
    topic      text NOT NULL,
    key        text NOT NULL,
    type       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created ON outbox (created_at);

-- +goose Down
DROP TABLE outbox, processed_messages, webhook_deliveries, webhooks, notifications,
    waitlist_entries, payments, booking_history, booking_seats, bookings, event_seats,
    events, seats, venues, audit_log, refresh_tokens, users;

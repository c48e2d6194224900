-- Webhook endpoints of business systems. processes and outcomes filter what an endpoint
-- receives; empty means everything of its system.
CREATE TABLE relay_endpoints (
    id              uuid        PRIMARY KEY,
    system          text        NOT NULL,
    url             text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    processes       text[]      NOT NULL DEFAULT '{}',
    outcomes        text[]      NOT NULL DEFAULT '{}',
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX relay_endpoints_system ON relay_endpoints (system);

-- Signing secrets, several per endpoint during a rotation: every secret whose expires_at
-- is null or in the future signs, newest first.
CREATE TABLE relay_endpoint_secrets (
    endpoint_id uuid        NOT NULL REFERENCES relay_endpoints ON DELETE CASCADE,
    serial      integer     NOT NULL,
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (endpoint_id, serial)
);

-- The relay's place in the event log, per relay name.
CREATE TABLE relay_checkpoints (
    name       text        PRIMARY KEY,
    position   text        NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One row per final outcome relayed: the public payload, exactly the bytes every endpoint
-- receives, and the business system's execution report once it arrives.
CREATE TABLE relay_messages (
    event_id            uuid        PRIMARY KEY,
    ticket_id           text        NOT NULL,
    system              text        NOT NULL,
    process_key         text        NOT NULL,
    outcome             text        NOT NULL,
    position            text        NOT NULL,
    pos_major           bigint      NOT NULL,
    pos_minor           bigint      NOT NULL,
    payload             bytea       NOT NULL,
    decided_at          timestamptz NOT NULL,
    relayed_at          timestamptz NOT NULL,
    execution_status    text        NOT NULL DEFAULT '',
    execution_detail    text        NOT NULL DEFAULT '',
    execution_by        text        NOT NULL DEFAULT '',
    execution_at        timestamptz,
    execution_webhook_id text       NOT NULL DEFAULT ''
);
CREATE INDEX relay_messages_ticket ON relay_messages (ticket_id);

-- One row per (outcome, endpoint): the delivery's state and schedule. id is the
-- webhook-id, derived from the ticket, the outcome event and the endpoint.
CREATE TABLE relay_deliveries (
    id              uuid        PRIMARY KEY,
    endpoint_id     uuid        NOT NULL REFERENCES relay_endpoints ON DELETE CASCADE,
    event_id        uuid        NOT NULL REFERENCES relay_messages,
    ticket_id       text        NOT NULL,
    pos_major       bigint      NOT NULL,
    pos_minor       bigint      NOT NULL,
    state           text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    failures        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    lease_token     uuid,
    last_status     integer,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    CONSTRAINT relay_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'dead')),
    CONSTRAINT relay_deliveries_once UNIQUE (endpoint_id, event_id)
);
CREATE INDEX relay_deliveries_due ON relay_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX relay_deliveries_queue ON relay_deliveries (endpoint_id, pos_major, pos_minor) WHERE state = 'pending';
CREATE INDEX relay_deliveries_ticket_order ON relay_deliveries (endpoint_id, ticket_id) WHERE state = 'pending';
CREATE INDEX relay_deliveries_ticket ON relay_deliveries (ticket_id);
CREATE INDEX relay_deliveries_endpoint ON relay_deliveries (endpoint_id, created_at);

-- Every attempt: when, how long, the HTTP status (null without a response), the error,
-- and the first bytes of the response body.
CREATE TABLE relay_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id uuid        NOT NULL REFERENCES relay_deliveries ON DELETE CASCADE,
    endpoint_id uuid        NOT NULL,
    ticket_id   text        NOT NULL,
    number      integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    latency_us  bigint      NOT NULL,
    status      integer,
    error       text        NOT NULL DEFAULT '',
    response    text        NOT NULL DEFAULT ''
);
CREATE INDEX relay_attempts_delivery ON relay_attempts (delivery_id, id);
CREATE INDEX relay_attempts_endpoint ON relay_attempts (endpoint_id, id);
CREATE INDEX relay_attempts_ticket ON relay_attempts (ticket_id, id);

-- Outcomes the relay refused to send because the ticket's history does not verify.
CREATE TABLE relay_quarantine (
    event_id  uuid        PRIMARY KEY,
    stream    text        NOT NULL,
    position  text        NOT NULL,
    reason    text        NOT NULL,
    at        timestamptz NOT NULL
);

-- One row per projection: how far into the log its tables are, written in the same
-- transaction as the rows the events produced.
CREATE TABLE projection_checkpoints (
    name           text        PRIMARY KEY,
    -- position is eventstore.Position.String(); '' is the start of the log.
    position       text        NOT NULL DEFAULT '',
    -- last_event_at is when the store recorded the last event applied.
    last_event_at  timestamptz,
    events_applied bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- error is the failure that stopped the projection, NULL while it is healthy.
    error          text,
    failed_at      timestamptz,
    rebuilt_at     timestamptz
);

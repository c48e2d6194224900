-- The audit timeline: every event of every ticket.
CREATE TABLE entries (
    ticket_id    text        NOT NULL,
    version      bigint      NOT NULL,
    position     text        NOT NULL,
    type         text        NOT NULL,
    -- actor issued the command; on_behalf_of is the principal they acted for as delegate.
    actor        text        NOT NULL DEFAULT '',
    on_behalf_of text        NOT NULL DEFAULT '',
    source       text        NOT NULL DEFAULT '',
    node         text        NOT NULL DEFAULT '',
    comment      text        NOT NULL DEFAULT '',
    -- detail holds what else the event says, never a field value.
    detail       jsonb       NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, version)
);

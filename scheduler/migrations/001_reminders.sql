-- The reminders still to send: one row per active node activation and kind (due-soon at the
-- node's reminder time, overdue at its due time). Rows go when the reminder is recorded or
-- the node stops being active.
CREATE TABLE reminders (
    ticket_id  text        NOT NULL,
    activation integer     NOT NULL,
    kind       text        NOT NULL,
    node       text        NOT NULL,
    fire_at    timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, activation, kind)
);

CREATE INDEX reminders_fire_at_idx ON reminders (fire_at);

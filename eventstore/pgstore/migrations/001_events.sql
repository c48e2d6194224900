-- The event log: one row per event, never updated nor deleted.
--
-- position numbers rows in insertion order. transaction_id is the id of the appending
-- transaction; the log is read in (transaction_id, position) order, its primary key.
-- A stream's version is its highest event version; the unique key on (stream, version)
-- serves stream reads and carries event_id for idempotency checks within a stream.
-- A tombstoned stream ends with a system event of type '$tombstone'.
CREATE TABLE events (
    position       bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream         text        NOT NULL,
    version        bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    type           text        NOT NULL,
    data           bytea       NOT NULL,
    metadata       bytea,
    created        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (transaction_id, position),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version) INCLUDE (event_id),
    CONSTRAINT events_version_check CHECK (version > 0)
);

-- The event log: one row per event, never updated nor deleted.
-- position orders rows within a transaction; transaction_id orders transactions by the time
-- they took their first write, which for an append is always taken while it holds its
-- stream's lock (see eventstore_append).
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream         text        NOT NULL,
    version        bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    type           text        NOT NULL,
    data           bytea       NOT NULL,
    metadata       bytea,
    created        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version),
    CONSTRAINT events_version_check CHECK (version > 0)
);

CREATE INDEX events_transaction_id_position_idx ON events (transaction_id, position);
CREATE INDEX events_event_id_idx ON events (event_id);

-- One row per stream: its version (the number of events) and whether it was tombstoned.
CREATE TABLE streams (
    name       text    PRIMARY KEY,
    version    bigint  NOT NULL,
    tombstoned boolean NOT NULL DEFAULT false
);

-- eventstore_append appends p_ids... to p_stream if its version satisfies the expected
-- version (kind 0 any, 1 no stream, 2 stream exists, 3 exact p_expected).
--
-- Status: 0 written, 1 idempotent retry (nothing written; the original result is returned),
-- 2 wrong expected version (r_version is the actual version), 3 stream tombstoned.
--
-- The transaction first takes a transaction-scoped advisory lock on the stream, which does
-- not assign a transaction id, and only then writes. So two appends to one stream get their
-- transaction ids in the order in which they hold the stream, and the global log read in
-- (transaction_id, position) order holds every stream's events in version order.
CREATE FUNCTION eventstore_append(
    p_stream        text,
    p_lock          integer,
    p_expected_kind smallint,
    p_expected      bigint,
    p_ids           uuid[],
    p_types         text[],
    p_data          bytea[],
    p_metadata      bytea[]
) RETURNS TABLE (r_status smallint, r_version bigint, r_transaction_id text, r_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n            bigint := cardinality(p_ids);
    v_actual     bigint;
    v_tombstoned boolean;
    v_first      bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1702064500, p_lock);

    SELECT s.version, s.tombstoned INTO v_actual, v_tombstoned
    FROM streams s WHERE s.name = p_stream;
    IF v_tombstoned THEN
        RETURN QUERY SELECT 3::smallint, v_actual, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    v_actual := coalesce(v_actual, 0);

    IF p_expected_kind IN (1, 3) THEN
        IF v_actual <> p_expected THEN
            v_first := p_expected + 1;
        END IF;
    ELSE
        SELECT min(e.version) INTO v_first
        FROM events e WHERE e.event_id = p_ids[1] AND e.stream = p_stream;
        IF v_first IS NULL AND (
            (p_expected_kind = 2 AND v_actual = 0)
            OR EXISTS (SELECT FROM events e WHERE e.event_id = ANY (p_ids) AND e.stream = p_stream)
        ) THEN
            RETURN QUERY SELECT 2::smallint, v_actual, NULL::text, NULL::bigint;
            RETURN;
        END IF;
    END IF;

    IF v_first IS NOT NULL THEN
        IF v_actual >= v_first + n - 1 AND p_ids = (
            SELECT array_agg(e.event_id ORDER BY e.version)
            FROM events e
            WHERE e.stream = p_stream AND e.version BETWEEN v_first AND v_first + n - 1
        ) THEN
            RETURN QUERY
                SELECT 1::smallint, e.version, e.transaction_id::text, e.position
                FROM events e WHERE e.stream = p_stream AND e.version = v_first + n - 1;
            RETURN;
        END IF;
        RETURN QUERY SELECT 2::smallint, v_actual, NULL::text, NULL::bigint;
        RETURN;
    END IF;

    INSERT INTO streams AS s (name, version) VALUES (p_stream, v_actual + n)
    ON CONFLICT (name) DO UPDATE SET version = excluded.version;

    RETURN QUERY
        WITH inserted AS (
            INSERT INTO events (stream, version, event_id, type, data, metadata)
            SELECT p_stream, v_actual + u.o, u.id, u.type, u.data, u.metadata
            FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, type, data, metadata, o)
            ORDER BY u.o
            RETURNING events.position
        )
        SELECT 0::smallint, v_actual + n, pg_current_xact_id()::text, max(inserted.position)
        FROM inserted;
END
$$;

-- eventstore_tombstone deletes p_stream for good if its version satisfies the expected
-- version (kinds as for eventstore_append), under the same lock as appends.
--
-- Status: 0 tombstoned, 2 wrong expected version (r_version is the actual version),
-- 3 already tombstoned, 4 stream not found.
CREATE FUNCTION eventstore_tombstone(
    p_stream        text,
    p_lock          integer,
    p_expected_kind smallint,
    p_expected      bigint
) RETURNS TABLE (r_status smallint, r_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_actual     bigint;
    v_tombstoned boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(1702064500, p_lock);

    SELECT s.version, s.tombstoned INTO v_actual, v_tombstoned
    FROM streams s WHERE s.name = p_stream;
    IF v_tombstoned THEN
        RETURN QUERY SELECT 3::smallint, v_actual;
        RETURN;
    END IF;
    v_actual := coalesce(v_actual, 0);

    IF v_actual = 0 AND p_expected_kind IN (2, 3) THEN
        RETURN QUERY SELECT 4::smallint, 0::bigint;
        RETURN;
    END IF;
    IF (p_expected_kind IN (1, 3) AND v_actual <> p_expected) THEN
        RETURN QUERY SELECT 2::smallint, v_actual;
        RETURN;
    END IF;

    INSERT INTO streams AS s (name, version, tombstoned) VALUES (p_stream, v_actual, true)
    ON CONFLICT (name) DO UPDATE SET tombstoned = true;
    RETURN QUERY SELECT 0::smallint, v_actual;
END
$$;

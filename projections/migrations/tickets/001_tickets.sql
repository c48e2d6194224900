-- The tracking view: one row per ticket, as its events made it. Its rows are updated by
-- every event; free space on each page lets PostgreSQL update them in place (HOT).
CREATE TABLE tickets (
    id                    text        PRIMARY KEY,
    status                text        NOT NULL,
    process_key           text        NOT NULL,
    process_version       integer     NOT NULL,
    system                text        NOT NULL DEFAULT '',
    business_key          text        NOT NULL DEFAULT '',
    submitter             text        NOT NULL,
    title                 text        NOT NULL DEFAULT '',
    -- fields never leave the database unfiltered but for privileged readers (visibility.go).
    fields                jsonb       NOT NULL DEFAULT '{}',
    watchers              text[]      NOT NULL DEFAULT '{}',
    -- current_node is the key of the active node, NULL while none is (returned, closed).
    current_node          text,
    current_index         integer,
    activation            integer     NOT NULL DEFAULT 0,
    activated_at          timestamptz,
    due_at                timestamptz,
    urge_count            integer     NOT NULL DEFAULT 0,
    last_urged_at         timestamptz,
    final_at              timestamptz,
    execution_status      text,
    execution_detail      text,
    execution_reported_by text,
    executed_at           timestamptz,
    submitted_at          timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    version               bigint      NOT NULL,
    last_position         text        NOT NULL
) WITH (fillfactor = 70);

CREATE INDEX tickets_submitter_idx ON tickets (submitter, submitted_at DESC, id DESC);
CREATE INDEX tickets_business_key_idx ON tickets (system, process_key, business_key);

-- The ticket's route as planned at submission or resubmission, with added signers; idx is
-- the node's index in the route. visible NULL means the node sees every field.
CREATE TABLE nodes (
    ticket_id text    NOT NULL,
    idx       integer NOT NULL,
    key       text    NOT NULL,
    name      text    NOT NULL DEFAULT '',
    mode      text    NOT NULL,
    handlers  text[]  NOT NULL DEFAULT '{}',
    visible   text[],
    reject_to text    NOT NULL DEFAULT '',
    added_by  text    NOT NULL DEFAULT ''
);

CREATE INDEX nodes_ticket_idx ON nodes (ticket_id, idx);

-- Who is copied in on which ticket (抄送).
CREATE TABLE cc (
    principal text        NOT NULL,
    ticket_id text        NOT NULL,
    added_at  timestamptz NOT NULL,
    added_by  text        NOT NULL DEFAULT '',
    PRIMARY KEY (principal, ticket_id)
);

CREATE INDEX cc_principal_added_idx ON cc (principal, added_at DESC, ticket_id DESC);
CREATE INDEX cc_ticket_idx ON cc (ticket_id);

-- Statistics: one row per node activation, for handling times and SLA per node.
CREATE TABLE activations (
    ticket_id    text        NOT NULL,
    activation   integer     NOT NULL,
    node         text        NOT NULL,
    process_key  text        NOT NULL,
    activated_at timestamptz NOT NULL,
    due_at       timestamptz,
    -- ended_at is when the node completed, was returned, withdrawn or preceded by an
    -- added signer; outcome says which (approved, rejected, returned, withdrawn,
    -- signer-added).
    ended_at     timestamptz,
    outcome      text,
    PRIMARY KEY (ticket_id, activation)
);

CREATE INDEX activations_process_node_idx ON activations (process_key, node, activated_at);
CREATE INDEX tasks_decided_stats_idx ON tasks (process_key, node, decided_at) WHERE status IN ('approved', 'rejected', 'returned');

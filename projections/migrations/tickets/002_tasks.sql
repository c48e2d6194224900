-- The workbench: one row per task, of every activation of every node.
CREATE TABLE tasks (
    ticket_id     text        NOT NULL,
    task_id       text        NOT NULL,
    activation    integer     NOT NULL,
    -- ordinal is the task's index among its activation's tasks (transfers append).
    ordinal       integer     NOT NULL,
    node          text        NOT NULL,
    process_key   text        NOT NULL,
    assignee      text        NOT NULL,
    -- status is a ticket.TaskStatus: waiting, pending, approved, rejected, returned,
    -- transferred or cancelled.
    status        text        NOT NULL,
    -- visible is the node's visible fields when the task was created; NULL means all.
    visible       text[],
    created_at    timestamptz NOT NULL,
    -- pending_since is when the task became the assignee's to decide (NULL while waiting).
    pending_since timestamptz,
    due_at        timestamptz,
    decided_at    timestamptz,
    decided_by    text,
    on_behalf_of  text,
    PRIMARY KEY (ticket_id, task_id)
);

CREATE INDEX tasks_pending_idx ON tasks (assignee, pending_since, ticket_id, task_id) WHERE status = 'pending';
CREATE INDEX tasks_decided_by_idx ON tasks (decided_by, decided_at DESC, ticket_id DESC, task_id DESC) WHERE decided_by IS NOT NULL;
CREATE INDEX tasks_on_behalf_of_idx ON tasks (on_behalf_of, decided_at DESC, ticket_id DESC, task_id DESC) WHERE on_behalf_of IS NOT NULL;

-- The tasks waiting their turn in a sequential node, for the decision that makes the next
-- one pending. Few tasks ever wait, so the index is small and costs almost nothing to
-- keep; without it, every approval looked through all its ticket's tasks for one.
CREATE INDEX tasks_waiting_idx ON tasks (ticket_id, activation, ordinal) WHERE status = 'waiting';

-- When the whole ticket is due, by its process's ticket SLA (NULL: no limit).
ALTER TABLE tickets ADD COLUMN ticket_due_at timestamptz;

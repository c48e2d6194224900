-- Timelines are read from the event log (Timeline): the timeline read model, which
-- copied every ticket event into a table of its own, and its checkpoint go.
DROP SCHEMA IF EXISTS rm_timeline CASCADE;
DROP SCHEMA IF EXISTS rm_timeline_next CASCADE;
DELETE FROM projection_checkpoints WHERE name = 'timeline';

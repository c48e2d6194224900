-- Room on each page for the updates that follow a row's insertion, so that PostgreSQL
-- makes them in place (HOT), without new index entries. An activation is updated once,
-- when its node ends (ended_at and outcome, which no index holds); a ticket row, wider,
-- several times in the seconds after its submission.
ALTER TABLE activations SET (fillfactor = 80);
ALTER TABLE tickets SET (fillfactor = 50);

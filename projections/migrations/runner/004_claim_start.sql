-- projection_claim takes the position of a checkpoint never written (the column's default,
-- '') and the start of the log written out ('0/0') for the same: the first live batch of a
-- new projection, which expects the start, was refused and written the slow way.
CREATE OR REPLACE FUNCTION projection_claim(p text, expected text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stored text;
BEGIN
    SELECT c.position INTO stored FROM public.projection_checkpoints c WHERE c.name = p FOR UPDATE;
    IF NOT FOUND OR coalesce(nullif(stored, ''), '0/0') IS DISTINCT FROM coalesce(nullif(expected, ''), '0/0') THEN
        RAISE EXCEPTION 'the checkpoint of projection % is at %, not at %', p, coalesce(stored, 'no row'), expected
            USING ERRCODE = 'TLCP1';
    END IF;
END
$$;

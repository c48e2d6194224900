-- projection_claim locks the checkpoint row of projection p for the transaction and
-- raises TLCP1 unless its position is expected. A live batch starts with it and sends its
-- writes, its checkpoint and its commit in the same round trip, on the strength of the
-- position its process last stored: should another process have moved the checkpoint
-- since, the batch fails here, before writing anything.
CREATE FUNCTION projection_claim(p text, expected text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stored text;
BEGIN
    SELECT c.position INTO stored FROM public.projection_checkpoints c WHERE c.name = p FOR UPDATE;
    IF NOT FOUND OR stored IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'the checkpoint of projection % is at %, not at %', p, coalesce(stored, 'no row'), expected
            USING ERRCODE = 'TLCP1';
    END IF;
END
$$;

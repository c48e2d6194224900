-- relay_webhook_id derives the webhook-id of the delivery of an outcome to an endpoint,
-- as relay.WebhookID does in Go: a UUIDv8 made of the first 16 bytes of
-- SHA-256(namespace || ticket id (UTF-8) || 0x00 || outcome event id || endpoint id), with
-- the version and variant bits set (RFC 9562, name-based with SHA-256).
CREATE FUNCTION relay_webhook_id(ticket_id text, event_id uuid, endpoint_id uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 128), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
    FROM (SELECT substring(sha256(
        '\x0d6c3f3e2b8a4f578f0e6a4f3c2d9b71'::bytea
        || convert_to(ticket_id, 'UTF8') || '\x00'::bytea
        || decode(replace(event_id::text, '-', ''), 'hex')
        || decode(replace(endpoint_id::text, '-', ''), 'hex')) FROM 1 FOR 16) AS h) AS d
$$;

-- Delegation grants (协同): Delegate may act for Principal while the grant is active.
CREATE TABLE grants (
    principal   text        NOT NULL,
    id          text        NOT NULL,
    delegate    text        NOT NULL,
    valid_from  timestamptz NOT NULL,
    -- valid_until is exclusive; NULL means until revoked.
    valid_until timestamptz,
    -- processes limits the grant to these process keys; empty means every process.
    processes   text[]      NOT NULL DEFAULT '{}',
    reason      text        NOT NULL DEFAULT '',
    granted_by  text        NOT NULL DEFAULT '',
    granted_at  timestamptz,
    revoked_at  timestamptz,
    revoked_by  text,
    PRIMARY KEY (principal, id)
);

CREATE INDEX grants_delegate_idx ON grants (delegate, principal);

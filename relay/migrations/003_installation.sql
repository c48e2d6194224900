-- The installation: one row, made when the relay's tables are, whose id every outcome
-- message carries, so that a dispatcher can tell another installation's outcomes on a
-- transport the two share by mistake (one NATS stream for two databases).
CREATE TABLE relay_installation (
    id uuid PRIMARY KEY,
    single boolean NOT NULL DEFAULT true UNIQUE CHECK (single)
);
INSERT INTO relay_installation (id) VALUES (gen_random_uuid());

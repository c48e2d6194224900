package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/relay/egress"
	"github.com/ticketledger/ticketledger/relay/webhook"
)

// DefaultSecretOverlap is how long a rotated-out secret keeps signing when RotateSecret is
// given no overlap.
const DefaultSecretOverlap = 24 * time.Hour

// Endpoint is where a business system receives its tickets' outcomes.
type Endpoint struct {
	ID uuid.UUID
	// System is the business system whose tickets the endpoint receives.
	System      string
	URL         string
	Description string
	// Processes limits the endpoint to tickets of these process keys; empty means all.
	Processes []string
	// Outcomes limits the endpoint to these outcomes (OutcomeApproved, OutcomeRejected,
	// OutcomeWithdrawn); empty means all.
	Outcomes []string
	// Enabled endpoints have their deliveries attempted. A disabled endpoint's deliveries,
	// those of outcomes decided while it is disabled included, wait until it is enabled
	// again: disabling pauses an endpoint, and loses nothing.
	Enabled bool
	// DisabledReason says why the endpoint was disabled (by an operator, or by a 410 Gone).
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Wants reports whether the endpoint receives an outcome of the given system, process
// and kind. It does not look at Enabled.
func (e Endpoint) Wants(system, process, outcome string) bool {
	return e.System == system &&
		(len(e.Processes) == 0 || slices.Contains(e.Processes, process)) &&
		(len(e.Outcomes) == 0 || slices.Contains(e.Outcomes, outcome))
}

// EndpointSecret is one of an endpoint's signing secrets.
type EndpointSecret struct {
	// Serial numbers an endpoint's secrets from 1, in order of creation.
	Serial    int
	Secret    webhook.Secret
	CreatedAt time.Time
	// ExpiresAt is when the secret stops signing; zero while it is the current secret.
	ExpiresAt time.Time
}

// NewEndpoint is what RegisterEndpoint needs.
type NewEndpoint struct {
	System      string
	URL         string
	Description string
	Processes   []string
	Outcomes    []string
	// Secret imports an existing secret; zero means a new one is generated.
	Secret webhook.Secret
	// Disabled registers the endpoint disabled.
	Disabled bool
}

// EndpointChange changes an endpoint; nil fields stay as they are.
type EndpointChange struct {
	URL         *string
	Description *string
	Processes   *[]string
	Outcomes    *[]string
}

// EndpointQuery selects endpoints; zero fields do not filter.
type EndpointQuery struct {
	System string
}

// RegisterEndpoint checks and stores a new endpoint and returns it with its signing
// secret, which the business system needs to verify requests. The URL must pass the
// store's egress policy. Errors: Invalid *domain.Error for a missing system, a bad URL
// (code "forbidden-address" for a refused destination), an unknown outcome or an empty
// process key.
func (s *Store) RegisterEndpoint(ctx context.Context, n NewEndpoint) (Endpoint, webhook.Secret, error) {
	if strings.TrimSpace(n.System) == "" {
		return Endpoint{}, webhook.Secret{}, domain.FieldError("required", "system", "name the business system")
	}
	u, err := s.checkURL(ctx, n.URL)
	if err != nil {
		return Endpoint{}, webhook.Secret{}, err
	}
	if err := checkFilters(n.Processes, n.Outcomes); err != nil {
		return Endpoint{}, webhook.Secret{}, err
	}
	secret := n.Secret
	if secret.IsZero() {
		if secret, err = webhook.NewSecret(); err != nil {
			return Endpoint{}, webhook.Secret{}, err
		}
	}
	now := s.now()
	e := Endpoint{
		ID: uuid.New(), System: n.System, URL: u, Description: n.Description,
		Processes: nonNil(n.Processes), Outcomes: nonNil(n.Outcomes), Enabled: !n.Disabled,
		CreatedAt: now, UpdatedAt: now,
	}
	if n.Disabled {
		e.DisabledReason = "registered disabled"
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO relay_endpoints
			(id, system, url, description, processes, outcomes, enabled, disabled_reason, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
			e.ID, e.System, e.URL, e.Description, e.Processes, e.Outcomes, e.Enabled, e.DisabledReason, now); err != nil {
			return err
		}
		stored, err := s.sealer.seal(e.ID, 1, secret.Reveal())
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO relay_endpoint_secrets (endpoint_id, serial, secret, created_at)
			VALUES ($1, 1, $2, $3)`, e.ID, stored, now)
		return err
	})
	if err != nil {
		return Endpoint{}, webhook.Secret{}, fmt.Errorf("relay: register endpoint: %w", err)
	}
	return e, secret, nil
}

func (s *Store) checkURL(ctx context.Context, raw string) (string, error) {
	u, err := s.cfg.Egress.CheckURL(ctx, raw)
	switch {
	case errors.Is(err, egress.ErrForbiddenAddress):
		return "", &domain.Error{Kind: domain.Invalid, Code: "forbidden-address", Field: "url",
			Message: "the URL leads to an internal address", Cause: err}
	case err != nil:
		return "", &domain.Error{Kind: domain.Invalid, Code: "invalid", Field: "url",
			Message: "must be an absolute http or https URL whose host resolves", Cause: err}
	}
	return u.String(), nil
}

func checkFilters(processes, outcomes []string) error {
	for _, p := range processes {
		if strings.TrimSpace(p) == "" {
			return domain.FieldError("invalid", "processes", "process keys must not be empty")
		}
	}
	for _, o := range outcomes {
		if !slices.Contains(Outcomes, o) {
			return domain.FieldError("invalid", "outcomes", "unknown outcome %q; want one of %s", o, strings.Join(Outcomes, ", "))
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

const endpointColumns = `id, system, url, description, processes, outcomes, enabled, disabled_reason, created_at, updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.System, &e.URL, &e.Description, &e.Processes, &e.Outcomes, &e.Enabled,
		&e.DisabledReason, &e.CreatedAt, &e.UpdatedAt)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, err
}

// Endpoint returns one endpoint. Errors: NotFound *domain.Error.
func (s *Store) Endpoint(ctx context.Context, id uuid.UUID) (Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM relay_endpoints WHERE id = $1`, id))
	if isNoRows(err) {
		return Endpoint{}, notFound("no-such-endpoint", "no endpoint %s", id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("relay: endpoint %s: %w", id, err)
	}
	return e, nil
}

// Endpoints lists the endpoints q selects, oldest first.
func (s *Store) Endpoints(ctx context.Context, q EndpointQuery) ([]Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM relay_endpoints
		WHERE ($1 = '' OR system = $1) ORDER BY created_at, id`, q.System)
	if err != nil {
		return nil, fmt.Errorf("relay: endpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("relay: endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint applies c and returns the endpoint as changed. A new URL is checked as at
// registration. Errors: NotFound and Invalid *domain.Error.
func (s *Store) UpdateEndpoint(ctx context.Context, id uuid.UUID, c EndpointChange) (Endpoint, error) {
	var url *string
	if c.URL != nil {
		u, err := s.checkURL(ctx, *c.URL)
		if err != nil {
			return Endpoint{}, err
		}
		url = &u
	}
	var processes, outcomes []string
	if c.Processes != nil {
		processes = nonNil(*c.Processes)
	}
	if c.Outcomes != nil {
		outcomes = nonNil(*c.Outcomes)
	}
	if err := checkFilters(processes, outcomes); err != nil {
		return Endpoint{}, err
	}
	return s.updateEndpoint(ctx, id, `UPDATE relay_endpoints SET
			url = COALESCE($2, url), description = COALESCE($3, description),
			processes = COALESCE($4, processes), outcomes = COALESCE($5, outcomes), updated_at = $6
		WHERE id = $1 RETURNING `+endpointColumns, id, url, c.Description, processes, outcomes, s.now())
}

// EnableEndpoint enables the endpoint: it receives new outcomes again and its pending
// deliveries resume. Errors: NotFound *domain.Error.
func (s *Store) EnableEndpoint(ctx context.Context, id uuid.UUID) (Endpoint, error) {
	return s.updateEndpoint(ctx, id, `WITH enabled AS (
			UPDATE relay_endpoints SET enabled = true, disabled_reason = '', updated_at = $2
			WHERE id = $1 RETURNING `+endpointColumns+`, pg_notify($3, id::text))
		SELECT `+endpointColumns+` FROM enabled`, id, s.now(), dueChannel)
}

// DisableEndpoint disables the endpoint, recording reason. Errors: NotFound *domain.Error.
func (s *Store) DisableEndpoint(ctx context.Context, id uuid.UUID, reason string) (Endpoint, error) {
	if reason == "" {
		reason = "disabled by an operator"
	}
	return s.updateEndpoint(ctx, id, `UPDATE relay_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3
		WHERE id = $1 RETURNING `+endpointColumns, id, reason, s.now())
}

// DeleteEndpoint deletes the endpoint with its secrets, its deliveries and their attempts;
// the outcome messages stay until retention prunes those no delivery refers to. A worker
// attempting one of its deliveries meanwhile fails to record the attempt, and logs it.
// Errors: NotFound *domain.Error.
func (s *Store) DeleteEndpoint(ctx context.Context, id uuid.UUID) error {
	_, err := s.updateEndpoint(ctx, id, `DELETE FROM relay_endpoints WHERE id = $1 RETURNING `+endpointColumns, id)
	return err
}

func (s *Store) updateEndpoint(ctx context.Context, id uuid.UUID, sql string, args ...any) (Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, sql, args...))
	if isNoRows(err) {
		return Endpoint{}, notFound("no-such-endpoint", "no endpoint %s", id)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("relay: update endpoint %s: %w", id, err)
	}
	return e, nil
}

// RotateSecret gives the endpoint a new signing secret and returns it. The secrets
// signing until now keep signing, after the new one, for overlap (DefaultSecretOverlap
// when 0; a negative overlap retires them at once), so the business system can switch
// without rejecting a request. Errors: NotFound *domain.Error.
func (s *Store) RotateSecret(ctx context.Context, id uuid.UUID, overlap time.Duration) (webhook.Secret, error) {
	if overlap == 0 {
		overlap = DefaultSecretOverlap
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return webhook.Secret{}, err
	}
	now := s.now()
	until := now.Add(max(overlap, 0))
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var found bool
		if err := tx.QueryRow(ctx, `SELECT true FROM relay_endpoints WHERE id = $1 FOR UPDATE`, id).Scan(&found); isNoRows(err) {
			return notFound("no-such-endpoint", "no endpoint %s", id)
		} else if err != nil {
			return err
		}
		var serial int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(serial), 0) FROM relay_endpoint_secrets WHERE endpoint_id = $1`, id).Scan(&serial); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE relay_endpoint_secrets SET expires_at = $2
			WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)`, id, until); err != nil {
			return err
		}
		stored, err := s.sealer.seal(id, serial+1, secret.Reveal())
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO relay_endpoint_secrets (endpoint_id, serial, secret, created_at)
			VALUES ($1, $2, $3, $4)`, id, serial+1, stored, now)
		return err
	})
	if err != nil {
		if domain.Is(err, domain.NotFound) {
			return webhook.Secret{}, err
		}
		return webhook.Secret{}, fmt.Errorf("relay: rotate the secret of endpoint %s: %w", id, err)
	}
	return secret, nil
}

// EndpointSecrets returns the endpoint's secrets, newest first, expired ones included.
// Errors: NotFound *domain.Error.
func (s *Store) EndpointSecrets(ctx context.Context, id uuid.UUID) ([]EndpointSecret, error) {
	if _, err := s.Endpoint(ctx, id); err != nil {
		return nil, err
	}
	return s.secrets(ctx, id, time.Time{})
}

// secrets returns the endpoint's secrets newest first; with a non-zero live, only those
// still signing at that time.
func (s *Store) secrets(ctx context.Context, id uuid.UUID, live time.Time) ([]EndpointSecret, error) {
	rows, err := s.pool.Query(ctx, `SELECT serial, secret, created_at, expires_at FROM relay_endpoint_secrets
		WHERE endpoint_id = $1 AND ($2::timestamptz IS NULL OR expires_at IS NULL OR expires_at > $2)
		ORDER BY serial DESC`, id, nullTime(live))
	if err != nil {
		return nil, fmt.Errorf("relay: secrets of endpoint %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EndpointSecret, error) {
		var (
			es      EndpointSecret
			text    string
			expires *time.Time
		)
		if err := r.Scan(&es.Serial, &text, &es.CreatedAt, &expires); err != nil {
			return es, err
		}
		es.CreatedAt = es.CreatedAt.UTC()
		if expires != nil {
			es.ExpiresAt = expires.UTC()
		}
		text, err := s.sealer.open(id, es.Serial, text)
		if err != nil {
			return es, err
		}
		sec, err := webhook.ParseSecret(text)
		es.Secret = sec
		return es, err
	})
	if err != nil {
		return nil, fmt.Errorf("relay: secrets of endpoint %s: %w", id, err)
	}
	return out, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
)

// Defaults of Config.
const (
	DefaultInterval = 15 * time.Second
	DefaultBatch    = 200
)

// Config tunes a Scheduler. The zero value selects every default.
type Config struct {
	// Interval is how often the scheduler looks for reminders that fell due.
	// Default DefaultInterval.
	Interval time.Duration
	// Batch is the largest number of reminders sent in one round. Default DefaultBatch.
	Batch int
	// Now reads the clock; default time.Now.
	Now func() time.Time
	// Logger receives one line per failed reminder; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Reminder issues one reminder; *commands.Service implements it.
type Reminder interface {
	RemindTicket(ctx context.Context, c commands.RemindTicket) (commands.TicketResult, error)
}

// Scheduler issues the reminders that fell due. Run one per deployment (two would only
// repeat no-op commands). It is safe for concurrent use.
type Scheduler struct {
	reminders *Reminders
	service   Reminder
	cfg       Config
}

// New returns a Scheduler reading due reminders from r and issuing them through svc.
func New(r *Reminders, svc Reminder, cfg Config) *Scheduler {
	cfg.setDefaults()
	return &Scheduler{reminders: r, service: svc, cfg: cfg}
}

// caller is the principal reminders are issued as.
var caller = commands.Caller{ID: "scheduler", Scheduler: true}

// reminderNamespace is the UUIDv5 namespace of reminder command ids.
var reminderNamespace = uuid.MustParse("c7d1a4f2-0f5e-4b8e-8a3c-5e2d9b6f1a07")

// Tick sends the reminders due at the scheduler's current time and returns how many it
// recorded. A reminder the ticket no longer needs (the node moved on) records nothing.
// It returns the first error that is not the ticket's own refusal, after trying them all.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	due, err := s.reminders.DueAt(ctx, s.cfg.Now(), s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	sent := 0
	var first error
	for _, d := range due {
		key := d.TicketID + "/" + strconv.Itoa(d.Activation) + "/" + d.Kind
		res, err := s.service.RemindTicket(ctx, commands.RemindTicket{
			Request:  commands.Request{CommandID: uuid.NewSHA1(reminderNamespace, []byte(key)), Caller: caller},
			TicketID: d.TicketID, Kind: d.Kind, Whole: d.Activation == 0,
		})
		switch {
		case err == nil:
			if res.Appended > 0 {
				sent++
			}
		case ctx.Err() != nil:
			return sent, ctx.Err()
		case domain.KindOf(err) == domain.Internal || domain.KindOf(err) == domain.Unavailable:
			s.cfg.Logger.Error("scheduler: reminder failed", "ticket", d.TicketID, "kind", d.Kind, "error", err)
			if first == nil {
				first = err
			}
		default:
			s.cfg.Logger.Info("scheduler: reminder refused", "ticket", d.TicketID, "kind", d.Kind, "reason", err.Error())
		}
	}
	return sent, first
}

// Run calls Tick every Interval until ctx ends; it returns nil then. Errors of a round are
// logged and the next round goes on.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.cfg.Logger.Warn("scheduler: round ended with errors", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

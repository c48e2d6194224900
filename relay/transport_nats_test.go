package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ticketledger/ticketledger/relay"
)

// natsConfig returns a NATS transport configuration on a stream of the test's own, deleted
// when the test ends; the test is skipped under -short when no server listens.
func natsConfig(t testing.TB) relay.NATSTransportConfig {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err != nil {
		if testing.Short() {
			t.Skipf("no NATS server on 127.0.0.1:4222: %v", err)
		}
		t.Fatalf("no NATS server on 127.0.0.1:4222: %v", err)
	}
	conn.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	cfg := relay.NATSTransportConfig{Topic: "relay-test-" + suffix, Durable: "relay-test-" + suffix, AckWait: 5 * time.Second, Logger: logger}
	t.Cleanup(func() {
		nc, err := nats.Connect(relay.DefaultNATSURL)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(cfg.Topic)
		}
	})
	return cfg
}

func TestNATSTransport(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	cfg := natsConfig(t)
	tr, err := relay.NewNATSTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := h.start(tr, fastDispatch())
	ids := h.outcomes(20, 6)
	waitFor(t, 20*time.Second, "the outcomes over NATS", func() bool { return len(rcv.distinct()) == len(ids) })
	run.stop()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	ids = append(ids, h.outcomes(10, 4)...)
	tr2, err := relay.NewNATSTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	run2 := h.start(tr2, fastDispatch())
	defer run2.stop()
	waitFor(t, 20*time.Second, "the outcomes decided while stopped", func() bool { return len(rcv.distinct()) == len(ids) })
	for _, rs := range rcv.distinct() {
		if rs[0].verified != nil {
			t.Fatal(rs[0].verified)
		}
	}
	waitFor(t, 5*time.Second, "every delivery to be recorded", func() bool { return h.countState(e.ID, relay.Delivered) == len(ids) })

	nc, err := nats.Connect(relay.DefaultNATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.StreamInfo(cfg.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != relay.DefaultNATSMaxAge {
		t.Fatalf("the stream keeps messages for %v, want %v", info.Config.MaxAge, relay.DefaultNATSMaxAge)
	}
}

func TestTransportConfigs(t *testing.T) {
	if err := (relay.NATSTransportConfig{Topic: "a.b"}).Validate(); err == nil {
		t.Error("a NATS topic with a dot was accepted")
	}
	if err := (relay.NATSTransportConfig{}).Validate(); err != nil {
		t.Errorf("the default NATS configuration: %v", err)
	}
	if err := (relay.SQLTransportConfig{PollInterval: time.Hour}).Validate(); err == nil {
		t.Error("an hour-long poll interval was accepted")
	}
	if err := (relay.DispatcherConfig{Timeout: time.Minute, Lease: time.Second}).Validate(); err == nil {
		t.Error("a lease shorter than the timeout was accepted")
	}
	if err := (relay.DispatcherConfig{Schedule: []time.Duration{-time.Second}}).Validate(); err == nil {
		t.Error("a negative delay was accepted")
	}
	if err := (relay.DispatcherConfig{Jitter: 1.5}).Validate(); err == nil {
		t.Error("a jitter of 150 % was accepted")
	}
	if err := (relay.RelayConfig{BatchSize: 1 << 20}).Validate(); err == nil {
		t.Error("a huge relay batch was accepted")
	}
	if _, err := relay.New(nil, nil, nil, relay.RelayConfig{}); err == nil {
		t.Error("New without dependencies succeeded")
	}
	if _, err := relay.NewDispatcher(nil, nil, relay.DispatcherConfig{}); err == nil {
		t.Error("NewDispatcher without dependencies succeeded")
	}
	if _, err := relay.NewNATSTransport(context.Background(), relay.NATSTransportConfig{URL: "nats://127.0.0.1:1", Options: []nats.Option{nats.Timeout(200 * time.Millisecond)}}); err == nil {
		t.Error("a NATS transport to nowhere was created")
	}
}

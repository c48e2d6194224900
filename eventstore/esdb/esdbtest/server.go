package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ServerVersion is the EventStoreDB version the double reports through ServerFeatures.
const ServerVersion = "24.10.0"

// maxRecvMsgSize matches the client's limit, above the default 4 MiB of grpc-go, so that
// oversized appends reach the append-size check as they do on a real node.
const maxRecvMsgSize = 17 << 20

// Server is a running double. Its methods are safe for concurrent use. The log lives as
// long as the Server: Stop and Restart keep it, as a node's disk would.
type Server struct {
	db   *database
	addr string

	mu   sync.Mutex
	grpc *grpc.Server
	// served is closed when the running grpc server's Serve has returned.
	served chan struct{}
	closed bool
}

// New starts a double listening on a free port of 127.0.0.1. Close it when done.
func New() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esdbtest: listen: %w", err)
	}
	s := &Server{db: newDatabase(), addr: lis.Addr().String()}
	s.serveLocked(lis)
	return s, nil
}

// Start starts a double as New does and closes it when tb ends; it fails tb if the double
// cannot listen.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// URL returns the connection string of the double for esdb.ParseConnectionString:
// "esdb://127.0.0.1:PORT?tls=false". It stays the same across Stop and Restart.
func (s *Server) URL() string {
	return "esdb://" + s.addr + "?tls=false"
}

// Addr returns the double's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop kills the server as a crash would: it stops listening, drops every connection and
// ends every running call, which clients see as Unavailable. The log is kept, so Restart
// brings the same node back. Stop on a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	g, served := s.grpc, s.served
	s.grpc = nil
	s.mu.Unlock()
	if g != nil {
		g.Stop()
		<-served
	}
}

// Restart listens again on the same address after Stop, serving the same log. It does
// nothing if the server is running, and fails after Close.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("esdbtest: restart of a closed server")
	}
	if s.grpc != nil {
		return nil
	}
	var lis net.Listener
	var err error
	for range 50 {
		lis, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("esdbtest: listen again on %s: %w", s.addr, err)
	}
	s.serveLocked(lis)
	return nil
}

// Close stops the server for good. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}

func (s *Server) serveLocked(lis net.Listener) {
	g := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
	)
	streams.RegisterStreamsServer(g, &streamsService{db: s.db})
	serverfeatures.RegisterServerFeaturesServer(g, featuresService{})
	served := make(chan struct{})
	s.grpc, s.served = g, served
	go func() {
		defer close(served)
		_ = g.Serve(lis)
	}()
}

// featuresService answers ServerFeatures/GetSupportedMethods with the methods the double serves.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const streamsService = "event_store.client.streams.streams"
	out := &serverfeatures.SupportedMethods{EventStoreServerVersion: ServerVersion}
	for _, m := range []string{"read", "append", "delete", "tombstone"} {
		out.Methods = append(out.Methods, &serverfeatures.SupportedMethod{MethodName: m, ServiceName: streamsService})
	}
	out.Methods = append(out.Methods, &serverfeatures.SupportedMethod{
		MethodName:  "getsupportedmethods",
		ServiceName: "event_store.client.server_features.serverfeatures",
	})
	return out, nil
}

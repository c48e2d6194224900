package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, new(*usageError)):
		fmt.Fprintln(os.Stderr, "ticketbench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ticketbench:", err)
		os.Exit(1)
	}
}

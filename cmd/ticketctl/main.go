package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ticketctl:", err)
		if exitStatus(err) == 2 {
			fmt.Fprintln(os.Stderr, "run 'ticketctl help' for the commands and their flags")
		}
	}
	os.Exit(exitStatus(err))
}

// exitStatus is the process's exit status for run's error: 0 without an error, 2 for a
// command line that cannot be run, 1 for every other failure.
func exitStatus(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

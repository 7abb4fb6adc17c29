// Command mcpcheck drives a running relay's MCP bridge end to end (PROTOCOL
// §13.11): a fake extension on /ws, the official Go SDK client on /mcp, and
// the error answers. It registers three sessions. It exits 1 when a check
// fails, 2 on bad usage.
//
//	mcpcheck -relay http://127.0.0.1:8787
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/chaos-relay/relay/server/mcp/mcptest"
)

func main() {
	relay := flag.String("relay", "http://127.0.0.1:8787", "base URL of the relay")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mcpcheck: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	os.Exit(report(mcptest.Check(ctx, *relay)))
}

// report prints one line per check and returns the exit status.
func report(results []mcptest.Result) int {
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			fmt.Printf("FAIL %s (%v): %v\n", r.Name, r.Took.Round(time.Millisecond), r.Err)
			continue
		}
		fmt.Printf("ok   %s (%v)\n", r.Name, r.Took.Round(time.Millisecond))
	}
	fmt.Printf("%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

package mcp_test

import (
	"testing"
	"time"

	"github.com/chaos-relay/relay/server/mcp"
	"github.com/chaos-relay/relay/server/mcp/mcptest"
)

func TestMemorySessions(t *testing.T) {
	mcptest.RunSessions(t, func(_ *testing.T, ttl time.Duration, perUser int, now func() time.Time) mcp.Sessions {
		return mcp.NewMemorySessions(ttl, perUser, now)
	})
}

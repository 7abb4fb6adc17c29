package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"

	"github.com/chaos-relay/relay/cmd/internal/natsrun"
	"github.com/chaos-relay/relay/storage/seal"
)

// The stores a started relay runs on (-store).
const (
	storeBolt     = "bolt"      // bbolt in the relay's data dir, fsync per commit
	storeNATS     = "nats"      // one nats-server, its default sync (every 2 minutes)
	storeNATSSync = "nats-sync" // one nats-server with sync_interval: always
	storeCluster  = "cluster"   // three nats-servers, replicas 3, -nodes relays
)

var storeKinds = []string{storeBolt, storeNATS, storeNATSSync, storeCluster}

// clusterServers is how many NATS servers the cluster store runs: the
// fewest that keep a quorum of replicas 3 when one is lost.
const clusterServers = 3

// deployment is what one run of a scenario drives: the relays relaybench
// started for it and the NATS servers they keep their records in. The NATS
// servers run inside relaybench (package natsrun), so relaybench's CPU
// includes theirs.
type deployment struct {
	store   string
	relays  []*relayProc
	nats    *natsrun.Cluster // nil on bolt
	natsDir string
}

// startDeployment starts a fresh deployment of store: NATS servers on a
// new temporary directory when the store needs them, then its relays, each
// with env added to the benchmark settings.
func startDeployment(ctx context.Context, cfg config, store string, env map[string]string) (d *deployment, err error) {
	d = &deployment{store: store}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	nodes := 1
	if store != storeBolt {
		servers, replicas := 1, 1
		if store == storeCluster {
			servers, replicas, nodes = clusterServers, clusterServers, cfg.Nodes
		}
		if d.natsDir, err = os.MkdirTemp("", "relaybench-nats-"); err != nil {
			return d, fmt.Errorf("start NATS: %w", err)
		}
		if d.nats, err = natsrun.Start(natsrun.Options{Dir: d.natsDir, Servers: servers, SyncAlways: store == storeNATSSync}); err != nil {
			return d, err
		}
		key, err := seal.GenerateRootKey()
		if err != nil {
			return d, err
		}
		env = withEnv(env, map[string]string{
			"RELAY_NATS_URL":      d.nats.URLs(),
			"RELAY_NATS_REPLICAS": strconv.Itoa(replicas),
			"RELAY_ROOT_KEY":      key.Encode(),
		})
	}
	for range nodes {
		p, err := startRelay(ctx, cfg.Start, env)
		if err != nil {
			return d, err
		}
		d.relays = append(d.relays, p)
	}
	return d, nil
}

// withEnv is a copy of env with more added.
func withEnv(env, more map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(more))
	maps.Copy(out, env)
	maps.Copy(out, more)
	return out
}

// urls are the relays' base URLs, node 1 first.
func (d *deployment) urls() []string {
	out := make([]string, len(d.relays))
	for i, p := range d.relays {
		out[i] = p.URL
	}
	return out
}

// describe says what runs, for progress lines.
func (d *deployment) describe() string {
	relays := "relay"
	if len(d.relays) > 1 {
		relays = fmt.Sprintf("%d relays", len(d.relays))
	}
	switch {
	case d.nats == nil:
		return relays
	case len(d.nats.Servers) == 1:
		return relays + " on a nats-server"
	}
	return fmt.Sprintf("%s on %d nats-servers", relays, len(d.nats.Servers))
}

// stop stops the relays (a relay on NATS leaves the others gracefully, so
// before the servers), then the NATS servers, and removes their files.
func (d *deployment) stop() error {
	var errs []error
	for i, p := range d.relays {
		if err := p.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", i+1, err))
		}
	}
	if d.nats != nil {
		d.nats.Shutdown()
	}
	if d.natsDir != "" {
		_ = os.RemoveAll(d.natsDir)
	}
	return errors.Join(errs...)
}

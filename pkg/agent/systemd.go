package agent

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// healthy reports whether events flow: the ring-buffer reader goes round its
// loop, and the consumer is not stuck behind a non-empty queue.
func (a *Agent) healthy(now time.Time) bool {
	if a.sensor == nil || now.Sub(a.sensor.ReaderAlive()) > 5*time.Second {
		return false
	}
	used, _ := a.stats.QueueDepth()
	last := time.Unix(0, a.stats.ConsumedAt.Load())
	return used == 0 || now.Sub(last) < 5*time.Second
}

// notifyReady tells systemd (Type=notify) the probes are attached, and feeds
// its watchdog while the pipeline is healthy; without NOTIFY_SOCKET these
// do nothing.
func (a *Agent) notifyReady(ctx context.Context) {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		a.log.Warn("sd_notify failed", zap.Error(err))
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if a.healthy(now) {
					_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
				} else {
					a.log.Error("pipeline stalled: not feeding the watchdog")
				}
			}
		}
	}()
}

func (a *Agent) notifyStopping() { _, _ = daemon.SdNotify(false, daemon.SdNotifyStopping) }

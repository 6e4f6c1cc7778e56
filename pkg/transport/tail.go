package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one stored message read back from the stream.
type Message struct {
	Subject  string `json:"subject"`
	Sequence uint64 `json:"sequence"`
	Data     []byte `json:"-"`
}

// Tail reads the stream from its first message (or only new ones when
// onlyNew is set), keeping those whose subject matches filter, and calls fn
// for each until ctx ends or fn returns false. It is the operator's view of
// what reached the server; it never acknowledges or removes anything.
// With create, a missing stream is created first (as the backend does).
func Tail(ctx context.Context, url string, opts []nats.Option, stream, filter string, onlyNew, create bool, fn func(Message) bool) error {
	if stream == "" {
		stream = "VIGIL"
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("vigil tail")}, opts...)...)
	if err != nil {
		return fmt.Errorf("nats connect %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if create {
		if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(stream)); err != nil {
			return fmt.Errorf("create stream %s: %w", stream, err)
		}
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	cc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if onlyNew {
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	if filter != "" {
		cc.FilterSubjects = []string{filter}
	}
	c, err := s.OrderedConsumer(ctx, cc)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", stream, err)
	}
	it, err := c.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		md, _ := m.Metadata()
		var seq uint64
		if md != nil {
			seq = md.Sequence.Stream
		}
		if !fn(Message{Subject: m.Subject(), Sequence: seq, Data: m.Data()}) {
			return nil
		}
	}
}

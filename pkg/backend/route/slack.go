package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/slack-go/slack"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/config"
)

// DefaultSlackAPI is the Slack Web API's base.
const DefaultSlackAPI = "https://slack.com/api/"

// slackOut posts Block Kit messages: to an incoming webhook (an update is a
// new message saying so), or through the Web API with a bot token, where
// the threat's first message is kept current (chat.update) and each
// update is a reply in its thread.
type slackOut struct {
	webhook string
	hc      *http.Client
	api     *slack.Client
	channel string
}

func newSlack(c config.Output) (*slackOut, error) {
	hc, err := httpClient(c)
	if err != nil {
		return nil, err
	}
	s := &slackOut{webhook: c.URL, hc: hc, channel: c.Channel}
	if c.TokenFile != "" {
		tok, err := readSecret(c.TokenFile, "token_file")
		if err != nil {
			return nil, err
		}
		base := c.URL
		if base == "" {
			base = DefaultSlackAPI
		}
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		s.api, s.webhook = slack.New(tok, slack.OptionAPIURL(base), slack.OptionHTTPClient(hc)), ""
	}
	return s, nil
}

func (s *slackOut) Send(ctx context.Context, d *Delivery) (Receipt, error) {
	n := d.N
	if s.api == nil {
		err := slack.PostWebhookCustomHTTPContext(ctx, s.webhook, s.hc, &slack.WebhookMessage{Text: SlackText(n),
			Blocks: &slack.Blocks{BlockSet: SlackBlocks(n, n.Event != alert.EventThreatOpened && n.Event != alert.EventDetection)}})
		if err != nil {
			return Receipt{}, slackError(err)
		}
		return Receipt{Answer: "200 OK"}, nil
	}
	channel, ts, _ := strings.Cut(d.Thread, ":")
	if ts == "" {
		ch, ts, err := s.api.PostMessageContext(ctx, s.channel, slack.MsgOptionText(SlackText(n), false),
			slack.MsgOptionBlocks(SlackBlocks(n, false)...))
		if err != nil {
			return Receipt{}, slackError(err)
		}
		return Receipt{Answer: "posted " + ts + " in " + ch, Thread: ch + ":" + ts}, nil
	}
	// The thread's parent shows the threat as it is now; the reply says
	// what changed.
	if _, _, _, err := s.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(SlackText(n), false),
		slack.MsgOptionBlocks(SlackBlocks(n, false)...)); err != nil {
		return Receipt{}, slackError(err)
	}
	_, rts, err := s.api.PostMessageContext(ctx, channel, slack.MsgOptionTS(ts), slack.MsgOptionText(SlackText(n), false),
		slack.MsgOptionBlocks(SlackBlocks(n, true)...))
	if err != nil {
		return Receipt{}, slackError(err)
	}
	return Receipt{Answer: "replied " + rts + " in thread " + ts, Thread: d.Thread}, nil
}

// slackError: Slack's own refusals (invalid_auth, channel_not_found...)
// and 4xx answers are permanent; rate limits and 5xx are retried.
func slackError(err error) error {
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	var rl *slack.RateLimitedError
	switch {
	case errors.As(err, &rl):
		return err
	case errors.As(err, &se):
		return &PermanentError{Err: fmt.Errorf("slack: %s", se.Err)}
	case errors.As(err, &sc):
		if e := statusError(sc.Code, sc.Status); e != nil {
			return e
		}
	}
	return err
}

func (s *slackOut) Close() error { s.hc.CloseIdleConnections(); return nil }

var severityEmoji = map[alert.Severity]string{alert.Critical: ":red_circle:", alert.High: ":large_orange_circle:",
	alert.Medium: ":large_yellow_circle:", alert.Low: ":large_blue_circle:", alert.Info: ":white_circle:"}

var eventWords = map[string]string{alert.EventThreatOpened: "New threat", alert.EventThreatUpdated: "Updated",
	alert.EventThreatAcknowledged: "Acknowledged", alert.EventThreatResolved: "Resolved", alert.EventThreatReopened: "Reopened",
	alert.EventDetection: "Detection"}

// SlackText is the message's plain text (notifications, screen readers).
func SlackText(n *alert.Notification) string {
	return fmt.Sprintf("%s [%s] %s", eventWords[n.Event], strings.ToUpper(n.Severity().String()), n.Title())
}

// mrkdwn escapes text for Slack's mrkdwn (&, < and > only, as Slack asks).
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SlackBlocks are the message: a header with the severity and title, the
// status, hosts, principals and tactics, the first events, and a link to
// the UI; update says what changed instead of repeating everything.
func SlackBlocks(n *alert.Notification, update bool) []slack.Block {
	text := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	header := truncate(fmt.Sprintf("%s %s: %s", eventWords[n.Event], strings.ToUpper(n.Severity().String()), n.Title()), 150)
	blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, header, true, false))}
	var fields []*slack.TextBlockObject
	field := func(name string, vals []string) {
		if len(vals) == 0 {
			return
		}
		if len(vals) > 5 {
			vals = append(vals[:5:5], fmt.Sprintf("and %d more", len(vals)-5))
		}
		fields = append(fields, text(truncate("*"+name+"*\n"+mrkdwn(strings.Join(vals, ", ")), 2000)))
	}
	field("Severity", []string{severityEmoji[n.Severity()] + " " + n.Severity().String()})
	var context []string
	if t := n.Threat; t != nil {
		status := t.Status
		if t.MergedInto != "" {
			status = "merged into " + t.MergedInto
		} else if t.Resolution != "" {
			status += " (" + t.Resolution + ")"
		}
		field("Status", []string{status})
		field("Hosts", entityNames(t.Resources, alert.KindHost, alert.KindInstance, alert.KindPod))
		field("Principals", entityNames(t.Actors, alert.KindPrincipal, alert.KindIAMUser, alert.KindK8sUser, alert.KindUser, alert.KindAccessKey))
		field("Tactics", t.Tactics)
		field("Detections", []string{fmt.Sprint(len(t.Timeline) + t.Omitted)})
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
		if update && n.NewDetections > 0 {
			blocks = append(blocks, slack.NewSectionBlock(text(fmt.Sprintf("*%d new detection(s)*; latest: %s", n.NewDetections,
				mrkdwn(lastEvent(t)))), nil, nil))
		}
		if !update {
			if ev := firstEvents(t, 5); len(ev) > 0 {
				blocks = append(blocks, slack.NewSectionBlock(text(truncate("*First events*\n• "+mrkdwn(strings.Join(ev, "\n• ")), 3000)), nil, nil))
			}
		}
		context = append(context, "threat "+t.ID)
		if t.Env != "" {
			context = append(context, "env "+t.Env)
		}
	}
	if d := n.Detection; d != nil {
		field("Rule", []string{d.Rule})
		field("Source", []string{string(d.Source)})
		field("Hosts", entityNames(d.Resources, alert.KindHost, alert.KindInstance, alert.KindPod))
		field("Actors", entityNames(d.Actors, alert.KindPrincipal, alert.KindIAMUser, alert.KindK8sUser, alert.KindUser, alert.KindProcess))
		field("ATT&CK", nonEmpty(strings.Trim(d.Tactic+" "+d.Technique, " ")))
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
		context = append(context, "detection "+d.ID)
	}
	if n.URL != "" {
		context = append([]string{"<" + n.URL + "|Open in Vigil>"}, context...)
	}
	var els []slack.MixedElement
	els = append(els, text(strings.Join(context, " · ")))
	return append(blocks, slack.NewContextBlock("", els...))
}

func lastEvent(t *alert.Threat) string {
	if len(t.Timeline) == 0 {
		return ""
	}
	e := t.Timeline[len(t.Timeline)-1]
	return truncate(e.Rule+": "+e.Message, 300)
}

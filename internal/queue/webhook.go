package queue

import (
	"context"
	"database/sql"
	"time"

	"github.com/framewise/framewise/internal/webhook"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DeliverWebhookArgs is the job that delivers one webhook notification
// (a task's event to one endpoint); each run is one attempt.
type DeliverWebhookArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind is stable: stored jobs refer to it.
func (DeliverWebhookArgs) Kind() string { return "framewise.deliver_webhook" }

// WebhookDeliverer makes one delivery attempt (webhook.Service.Deliver):
// nil when nothing is left to do, an error to retry.
type WebhookDeliverer interface {
	Deliver(ctx context.Context, deliveryID string) error
}

// EnqueueWebhook inserts the delivery job of a notification inside tx, the
// transaction that ends its task (or asks for a redelivery). A delivery
// whose job is still waiting or running gets no second job.
func (e *Enqueuer) EnqueueWebhook(ctx context.Context, tx *sql.Tx, deliveryID string) error {
	_, err := e.client.InsertTx(ctx, tx, DeliverWebhookArgs{DeliveryID: deliveryID},
		&river.InsertOpts{MaxAttempts: webhook.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: waitingOrRunning}})
	return err
}

// waitingOrRunning are the job states in which a delivery needs no second
// job; a completed or discarded one may be queued again (redelivery).
var waitingOrRunning = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}

type webhookWorker struct {
	river.WorkerDefaults[DeliverWebhookArgs]
	deliverer WebhookDeliverer
	backoff   time.Duration
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[DeliverWebhookArgs]) error {
	err := w.deliverer.Deliver(ctx, job.Args.DeliveryID)
	if err != nil && ctx.Err() != nil {
		// Shutting down: the attempt was not counted; make it at the next start.
		return river.JobSnooze(time.Second)
	}
	return err
}

// NextRetry doubles the wait after each failed attempt, from the backoff.
func (w *webhookWorker) NextRetry(job *river.Job[DeliverWebhookArgs]) time.Time {
	return time.Now().Add(webhook.Delay(w.backoff, job.Attempt))
}

// Timeout bounds one attempt beyond its own 10 s HTTP timeout.
func (w *webhookWorker) Timeout(*river.Job[DeliverWebhookArgs]) time.Duration { return time.Minute }

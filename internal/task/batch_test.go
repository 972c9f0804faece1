package task

import (
	"testing"
	"time"
)

func TestBatchStatusDerivation(t *testing.T) {
	at := time.Now()
	for _, c := range []struct {
		b    Batch
		want string
	}{
		{Batch{Counts: BatchCounts{Queued: 3}}, BatchPending},
		{Batch{Counts: BatchCounts{Queued: 2, Processing: 1}}, BatchProcessing},
		{Batch{Counts: BatchCounts{Queued: 2, Failed: 1}}, BatchProcessing},
		{Batch{FinishedAt: &at, Counts: BatchCounts{Ready: 2, Failed: 1}}, BatchCompleted},
		{Batch{CanceledAt: &at, Counts: BatchCounts{Processing: 1, Canceled: 2}}, BatchCanceling},
		{Batch{CanceledAt: &at, FinishedAt: &at, Counts: BatchCounts{Ready: 1, Canceled: 2}}, BatchCanceled},
		{Batch{ExpiredAt: &at, Counts: BatchCounts{Processing: 1, Canceled: 2}}, BatchExpired},
	} {
		if got := c.b.Status(); got != c.want || !ValidBatchStatus(got) {
			t.Errorf("%+v: %s, want %s", c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		st   Status
		msg  string
		want string
	}{
		{Queued, "", ItemQueued}, {Pending, "", ItemQueued}, {Processing, "", ItemProcessing}, {Ready, "", ItemReady},
		{Failed, "boom", ItemFailed}, {Failed, CanceledWithBatchMessage, ItemCanceled}, {Failed, ExpiredWithBatchMessage, ItemCanceled},
	} {
		if got := ItemStatus(c.st, c.msg); got != c.want {
			t.Errorf("ItemStatus(%s, %q) = %s, want %s", c.st, c.msg, got, c.want)
		}
	}
	if ValidBatchStatus("failed") {
		t.Error("failed is a batch status")
	}
}

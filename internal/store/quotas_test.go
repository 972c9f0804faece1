package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/framewise/framewise/internal/account"
	"github.com/framewise/framewise/internal/task"
)

func withDuration(t *task.Task, seconds float64) *task.Task {
	t.Duration = &seconds
	return t
}

func TestQuotas(t *testing.T) { eachDialect(t, testQuotas) }

func testQuotas(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	a, b := account.NewContext(context.Background(), "a"), account.NewContext(context.Background(), "b")
	refused := func(err error, retry int, quota string) bool {
		var be *task.BusyError
		return errors.As(err, &be) && be.Status == 429 && be.Code == task.CodeQuotaExceeded &&
			(retry == 0 || be.RetryAfter == retry) && strings.Contains(be.Message, quota)
	}

	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		for i := range 5 {
			if err := s.Create(a, withDuration(newTask(string(rune('a'+i)), now), 36000)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("active tasks", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		s.SetQuotas(Quotas{ActiveTasks: 2})
		for _, id := range []string{"t1", "t2"} {
			if err := s.Create(a, newTask(id, now)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Create(a, newTask("t3", now)); !refused(err, activeTasksRetry, "active tasks, 2") {
			t.Fatalf("third active task: %v", err)
		}
		if err := s.Create(b, newTask("t4", now)); err != nil {
			t.Fatalf("another account: %v", err)
		}
		if _, err := s.Update(a, "t1", func(t *task.Task) error { t.Status = task.Ready; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(a, newTask("t3", now)); err != nil {
			t.Fatalf("after one finished: %v", err)
		}
	})

	t.Run("video hours per day", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, nil)
		s.SetQuotas(Quotas{VideoPerDay: time.Hour})
		if err := s.Create(a, withDuration(newTask("v1", now), 1800)); err != nil {
			t.Fatal(err)
		}
		// A URL task: its 20 minutes count once the download knows them.
		url := newTask("v2", now.Add(time.Minute))
		if err := s.Create(a, url); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(a, "v2", func(t *task.Task) error {
			d := 1200.0
			t.Duration = &d
			t.UpdatedAt = now.Add(2 * time.Minute)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// 50 of 60 minutes used: 15 more are refused until v1 leaves the
		// window, 24 h after it; deleting v1 does not give them back.
		if _, err := s.Delete(a, "v1", func(*task.Task) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(a, withDuration(newTask("v3", now.Add(time.Hour)), 900)); !refused(err, 23*3600, "video hours per day") {
			t.Fatalf("over the video quota: %v", err)
		}
		if err := s.Create(a, withDuration(newTask("v4", now.Add(time.Hour)), 600)); err != nil {
			t.Fatalf("exactly at the quota: %v", err)
		}
		if err := s.Create(b, withDuration(newTask("v5", now.Add(time.Hour)), 3600)); err != nil {
			t.Fatalf("another account: %v", err)
		}
		if err := s.Create(b, withDuration(newTask("v6", now.Add(time.Hour)), 7200)); !refused(err, 0, "more than your account may analyze in a day") {
			t.Fatalf("a video longer than the quota: %v", err)
		}
		if err := s.Create(a, withDuration(newTask("v7", now.Add(24*time.Hour+time.Second)), 1800)); err != nil {
			t.Fatalf("a day later: %v", err)
		}
	})
}

// Package apiconv is the one place where domain types (tasks, assets,
// uploads) become wire types.
package apiconv

import (
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/task"
)

// Task converts a task to its retrieve form. Field presence follows the
// spec's table by status (§7).
func Task(t *task.Task) api.Task {
	out := api.Task{
		TaskID:    t.ID,
		Status:    string(t.Status),
		CreatedAt: t.CreatedAt.Truncate(time.Millisecond),
	}
	if t.Spec.CustomID != "" {
		id := t.Spec.CustomID
		out.CustomID = &id
	}
	vs := &api.VideoSource{Type: t.Spec.Source.Type, URL: t.Spec.Source.URL, AssetID: t.Spec.Source.AssetID}
	if t.Duration != nil {
		d := *t.Duration
		vs.SystemMetadata = &api.SystemMetadata{Duration: &d}
	}
	out.VideoSource = vs
	if t.Spec.Model == task.Pegasus15 {
		out.RequestParams = requestParams(t.Spec)
	}
	if t.Status.Terminal() && t.CompletedAt != nil {
		c := t.CompletedAt.Truncate(time.Millisecond)
		out.CompletedAt = &c
	}
	if t.Status == task.Ready && t.Result != nil {
		out.Result = &api.TaskResult{
			GenerationID: t.Result.GenerationID,
			Data:         t.Result.Data,
			FinishReason: t.Result.FinishReason,
			Usage:        api.Usage{OutputTokens: t.Result.OutputTokens, InputTokens: t.Result.InputTokens},
		}
		if t.Spec.Model == task.Pegasus15 {
			// The seed omits input_tokens for Pegasus 1.5 (spec §4.3).
			out.Result.Usage.InputTokens = nil
		}
	}
	if t.ErrorMessage != "" && t.Status.Terminal() {
		out.Error = &api.TaskError{Message: t.ErrorMessage}
	}
	if !t.Status.Terminal() && t.Stage != "" {
		out.Progress = &api.Progress{Stage: t.Stage, Percent: t.Percent}
	}
	out.Webhooks = webhookInfos(t.Webhooks)
	return out
}

// webhookInfos converts the deliveries of a task's or batch's notification.
func webhookInfos(ws []task.WebhookStatus) []api.WebhookInfo {
	var out []api.WebhookInfo
	for _, w := range ws {
		out = append(out, api.WebhookInfo{URL: w.URL, Delivered: w.Delivered, Attempts: w.Attempts, LastError: w.LastError})
	}
	return out
}

// ListItem converts a task to its abbreviated list form: prompts cut to 30
// characters, json_schema left out, only the first segment definition.
func ListItem(t *task.Task) api.Task {
	out := Task(t)
	rp := out.RequestParams
	if rp == nil {
		return out
	}
	if rp.Prompt != nil {
		p := truncate(*rp.Prompt, 30)
		rp.Prompt = &p
	}
	if rp.PromptV2 != nil {
		p := *rp.PromptV2
		p.InputText = truncate(p.InputText, 30)
		rp.PromptV2 = &p
	}
	if rp.ResponseFormat != nil {
		rf := *rp.ResponseFormat
		rf.JSONSchema = nil
		if len(rf.SegmentDefinitions) > 1 {
			rf.SegmentDefinitions = rf.SegmentDefinitions[:1]
		}
		rp.ResponseFormat = &rf
	}
	return out
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// requestParams echoes the effective parameters, defaults applied. As the
// seed says, only Pegasus 1.5 tasks carry request_params (Q17).
func requestParams(s task.Spec) *api.RequestParams {
	rp := &api.RequestParams{
		AnalysisMode:       s.Mode,
		Prompt:             s.Prompt,
		Temperature:        s.Temperature,
		MaxTokens:          s.MaxTokens,
		MinSegmentDuration: s.MinSegmentDuration,
		MaxSegmentDuration: s.MaxSegmentDuration,
		StartTime:          s.StartTime,
		EndTime:            s.EndTime,
	}
	if s.PromptV2 != nil {
		rp.PromptV2 = &api.PromptV2{InputText: s.PromptV2.InputText, MediaSources: mediaSources(s.PromptV2.MediaSources)}
	}
	if rf := s.ResponseFormat; rf != nil {
		out := &api.ResponseFormat{Type: rf.Type, JSONSchema: rf.JSONSchema}
		if rf.SegmentTimeFormat != "" {
			f := rf.SegmentTimeFormat
			out.SegmentTimeFormat = &f
		}
		for _, d := range rf.SegmentDefinitions {
			ad := api.SegmentDefinition{ID: d.ID, Description: d.Description, MediaSources: mediaSources(d.MediaSources)}
			for _, f := range d.Fields {
				af := api.SegmentField{Name: f.Name, Type: f.Type, Description: f.Description, Format: f.Format, Enum: f.Enum}
				if f.ItemsType != "" {
					af.Items = &api.FieldItems{Type: f.ItemsType}
				}
				ad.Fields = append(ad.Fields, af)
			}
			for _, r := range d.TimeRanges {
				ad.TimeRanges = append(ad.TimeRanges, api.TimeRange{StartTime: r.StartTime, EndTime: r.EndTime})
			}
			out.SegmentDefinitions = append(out.SegmentDefinitions, ad)
		}
		rp.ResponseFormat = out
	}
	return rp
}

// mediaSources echoes reference images without their base64 data.
func mediaSources(in []task.MediaSource) []api.MediaSource {
	var out []api.MediaSource
	for _, m := range in {
		out = append(out, api.MediaSource{Name: m.Name, MediaType: m.MediaType, URL: m.URL, AssetID: m.AssetID})
	}
	return out
}

// Batch converts a batch with its item counts.
func Batch(b *task.Batch) api.Batch {
	ms := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := t.Truncate(time.Millisecond)
		return &v
	}
	out := api.Batch{BatchID: b.ID, AnalysisMode: b.Mode, ModelName: b.Model, Status: b.Status(), TotalItems: b.Total,
		CreatedAt: b.CreatedAt.Truncate(time.Millisecond), ExpiresAt: b.ExpiresAt.Truncate(time.Millisecond),
		CanceledAt: ms(b.CanceledAt), ExpiredAt: ms(b.ExpiredAt),
		QueuedItems: b.Counts.Queued, ProcessingItems: b.Counts.Processing, ReadyItems: b.Counts.Ready,
		FailedItems: b.Counts.Failed, CanceledItems: b.Counts.Canceled}
	if b.CanceledAt == nil && b.ExpiredAt == nil {
		out.CompletedAt = ms(b.FinishedAt)
	}
	out.Webhooks = webhookInfos(b.Webhooks)
	return out
}

// BatchResult converts the task of a batch item to its results line.
func BatchResult(t *task.Task) api.BatchResult {
	st := task.ItemStatus(t.Status, t.ErrorMessage)
	out := api.BatchResult{TaskID: t.ID, CustomID: t.Spec.CustomID, Status: st}
	full := Task(t)
	switch st {
	case task.ItemReady:
		out.Data = full.Result
	case task.ItemCanceled:
		out.Error = &api.BatchError{Code: "canceled", Message: t.ErrorMessage}
	case task.ItemFailed:
		out.Error = &api.BatchError{Code: "analysis_failed", Message: t.ErrorMessage}
	}
	return out
}

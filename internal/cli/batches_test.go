package cli

import (
	"strings"
	"testing"
)

func TestReadBatchItems(t *testing.T) {
	t.Parallel()
	items, err := readBatchItems(strings.NewReader(`{"video":{"type":"asset_id","asset_id":"a1"},"custom_id":"one"}

{"video":{"asset_id":"a2"},"temperature":0.5,"prompt":{"input_text":"why?"}}
`), "items.jsonl")
	if err != nil || len(items) != 2 || items[1].Video.Type != "asset_id" || items[1].Video.AssetID != "a2" ||
		*items[1].Temperature != 0.5 || items[1].Prompt.InputText != "why?" || items[0].CustomID != "one" {
		t.Fatalf("items %+v, %v", items, err)
	}
	for in, want := range map[string]string{
		"":                                   "items.jsonl: no request items",
		`{"video":{"asset_id":"a"}}` + "\nx": "items.jsonl:2: not a batch request item",
		`{"vidoe":{"asset_id":"a"}}`:         `unknown field "vidoe"`,
	} {
		if _, err := readBatchItems(strings.NewReader(in), "items.jsonl"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

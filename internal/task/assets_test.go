package task

import (
	"errors"
	"testing"
)

// The store's AssetGoneError reaches the client as the 400
// resource_not_exist of the asset, named where the request named it.
func TestAssetGone(t *testing.T) {
	t.Parallel()
	spec := &Spec{
		Source:   Source{Type: SourceAssetID, AssetID: "v1"},
		PromptV2: &PromptV2{MediaSources: []MediaSource{{Name: "a", URL: "https://x.test/a.png"}, {Name: "b", AssetID: "i1"}}},
		ResponseFormat: &ResponseFormat{SegmentDefinitions: []SegmentDefinition{
			{ID: "s", MediaSources: []MediaSource{{Name: "c", AssetID: "i2"}}},
		}},
	}
	refs := spec.AssetRefs()
	if len(refs) != 3 || refs[0] != (AssetRef{"video.asset_id", "v1", "video"}) ||
		refs[1] != (AssetRef{"prompt_v2.media_sources[1].asset_id", "i1", "image"}) ||
		refs[2] != (AssetRef{"response_format.segment_definitions[0].media_sources[0].asset_id", "i2", "image"}) {
		t.Fatalf("refs %+v", refs)
	}
	for id, param := range map[string]string{"v1": "video.asset_id", "i2": "response_format.segment_definitions[0].media_sources[0].asset_id"} {
		err := assetGone(spec, &AssetGoneError{ID: id})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Status != 400 || ve.Code != "resource_not_exist" || ve.Param != param {
			t.Errorf("%s: %v", id, err)
		}
	}
	other := errors.New("disk full")
	if err := assetGone(spec, other); err != other {
		t.Errorf("another error changed: %v", err)
	}
	if assetGone(spec, nil) != nil {
		t.Error("no error became one")
	}
	if !errors.Is(&AssetGoneError{ID: "v1"}, ErrAssetNotFound) {
		t.Error("AssetGoneError is not ErrAssetNotFound")
	}
}

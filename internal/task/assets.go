package task

import (
	"context"
	"errors"
	"fmt"
)

// AssetResolver looks up the assets a create request names (V09, V17). It
// returns ErrAssetNotFound for an unknown id.
type AssetResolver interface {
	ResolveAsset(ctx context.Context, id string) (*AssetInfo, error)
}

// AssetInfo is what task creation needs to know of an asset.
type AssetInfo struct {
	Status string // processing, ready or failed
	Type   string // video, audio or image
	// BlobKey names the asset's stored file; a task whose video is the
	// asset reads it from there and never deletes it.
	BlobKey  string
	Duration float64
	// Unanalyzable says why a video asset fails the input requirements;
	// "" when it meets them.
	Unanalyzable string
	// Error is why a failed asset failed.
	Error string
}

// ErrAssetNotFound: no asset with that id.
var ErrAssetNotFound = errors.New("asset not found")

// UseAssets makes the service accept asset_id video and media sources,
// looked up through r. Without it they are refused as unknown assets.
func (s *Service) UseAssets(r AssetResolver) { s.assets = r }

// AssetRef is one asset a task names: its id, where in the request
// (Param) and the type it must have (Want: video or image).
type AssetRef struct {
	Param, ID, Want string
}

// AssetRefs lists the assets the spec names: the video, then the reference
// images of prompt_v2 and of each segment definition.
func (spec *Spec) AssetRefs() []AssetRef {
	var refs []AssetRef
	if spec.Source.Type == SourceAssetID {
		refs = append(refs, AssetRef{"video.asset_id", spec.Source.AssetID, "video"})
	}
	add := func(param string, sources []MediaSource) {
		for i, m := range sources {
			if m.AssetID != "" {
				refs = append(refs, AssetRef{fmt.Sprintf("%s[%d].asset_id", param, i), m.AssetID, "image"})
			}
		}
	}
	if spec.PromptV2 != nil {
		add("prompt_v2.media_sources", spec.PromptV2.MediaSources)
	}
	if rf := spec.ResponseFormat; rf != nil {
		for i, d := range rf.SegmentDefinitions {
			add(fmt.Sprintf("response_format.segment_definitions[%d].media_sources", i), d.MediaSources)
		}
	}
	return refs
}

// AssetGoneError is the store's answer to a task whose asset was deleted
// between its lookup and the task's insert: the store checks the assets in
// the transaction that inserts the task, the one a delete of the asset
// also takes, so that of a create and a delete racing exactly one wins.
type AssetGoneError struct{ ID string }

func (e *AssetGoneError) Error() string { return "asset " + e.ID + " was deleted" }

// Is makes an AssetGoneError match ErrAssetNotFound.
func (e *AssetGoneError) Is(target error) bool { return target == ErrAssetNotFound }

// resolveAssets checks every asset the spec names and, for an asset video,
// points the task at the asset's file and its known duration. The checks
// of V51 are made here since the asset's probe is known: a video that
// fails a requirement is a 400.
func (s *Service) resolveAssets(ctx context.Context, t *Task) error {
	for _, ref := range t.Spec.AssetRefs() {
		a, err := s.resolve(ctx, ref.Param, ref.ID, ref.Want)
		if err != nil {
			return err
		}
		if ref.Param != "video.asset_id" {
			continue
		}
		if a.Unanalyzable != "" {
			return &ValidationError{Status: 400, Code: "video_invalid", Param: ref.Param,
				Message: fmt.Sprintf("Asset %s cannot be analyzed: %s", ref.ID, a.Unanalyzable)}
		}
		if ve := CheckWindow(t.Spec, a.Duration); ve != nil {
			return &ValidationError{Status: 400, Code: "parameter_invalid", Param: ve.Rule, Message: ve.Message}
		}
		d := a.Duration
		t.BlobKey, t.Duration = a.BlobKey, &d
	}
	return nil
}

// assetGone turns the store's AssetGoneError into the answer to the
// client: the asset does not exist (any more).
func assetGone(spec *Spec, err error) error {
	var gone *AssetGoneError
	if !errors.As(err, &gone) {
		return err
	}
	for _, ref := range spec.AssetRefs() {
		if ref.ID == gone.ID {
			return assetNotFound(ref.Param, ref.ID)
		}
	}
	return assetNotFound("video.asset_id", gone.ID)
}

// resolve looks up asset id named at param and requires it ready and of
// type want.
func (s *Service) resolve(ctx context.Context, param, id, want string) (*AssetInfo, error) {
	if s.assets == nil {
		return nil, assetNotFound(param, id)
	}
	a, err := s.assets.ResolveAsset(ctx, id)
	if errors.Is(err, ErrAssetNotFound) {
		return nil, assetNotFound(param, id)
	}
	if err != nil {
		return nil, err
	}
	switch a.Status {
	case "ready":
	case "failed":
		return nil, &ValidationError{Status: 400, Code: "asset_not_ready", Param: param,
			Message: fmt.Sprintf("Asset %s (%s) failed processing and cannot be used: %s Upload the file again.", id, param, a.Error)}
	default:
		return nil, &ValidationError{Status: 400, Code: "asset_not_ready", Param: param,
			Message: fmt.Sprintf("Asset %s (%s) is still %s. Wait until GET /v1.3/assets/%s shows status ready, then create the task.", id, param, a.Status, id)}
	}
	if a.Type != want {
		article := "a"
		if want == "image" {
			article = "an"
		}
		return nil, &ValidationError{Status: 400, Code: "asset_type_mismatch", Param: param,
			Message: fmt.Sprintf("Asset %s (%s) is %s asset, but %s needs %s %s asset.", id, param, withArticle(a.Type), param, article, want)}
	}
	return a, nil
}

func withArticle(typ string) string {
	switch typ {
	case "audio", "image":
		return "an " + typ
	}
	return "a " + typ
}

func assetNotFound(param, id string) *ValidationError {
	return &ValidationError{Status: 400, Code: "resource_not_exist", Param: param,
		Message: fmt.Sprintf("Asset with id %s (%s) does not exist. Upload the file as an asset first (POST /v1.3/assets), or use a url or base64_string source.", id, param)}
}

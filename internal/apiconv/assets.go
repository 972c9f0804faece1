package apiconv

import (
	"time"

	"github.com/framewise/framewise/api"
	"github.com/framewise/framewise/internal/asset"
)

// Asset converts an asset to its wire form: size, duration and technical
// metadata once ready, error only when failed.
func Asset(a *asset.Asset) api.Asset {
	out := api.Asset{
		ID:           a.ID,
		Method:       string(a.Method),
		Status:       string(a.Status),
		Filename:     a.Filename,
		FileType:     a.FileType,
		CreatedAt:    a.CreatedAt.Truncate(time.Millisecond),
		UserMetadata: a.UserMetadata,
	}
	switch a.Status {
	case asset.Ready:
		size := a.Size
		out.Size = &size
		if a.Duration != nil {
			d := *a.Duration
			out.Duration = &d
		}
		if a.Technical != nil {
			tm := api.TechnicalMetadata(*a.Technical)
			out.TechnicalMetadata = &tm
		}
	case asset.Failed:
		out.Error = &api.AssetError{Message: a.ErrorMessage}
	}
	return out
}

// PresignedURLs converts presigned chunk URLs.
func PresignedURLs(in []asset.PresignedURL) []api.PresignedURL {
	out := make([]api.PresignedURL, 0, len(in))
	for _, p := range in {
		out = append(out, api.PresignedURL{ChunkIndex: p.Index, URL: p.URL, ExpiresAt: p.ExpiresAt})
	}
	return out
}

// UploadStatus converts a session and a page of its chunks.
func UploadStatus(st *asset.UploadState, pageInfo api.PageInfo) api.UploadStatus {
	u := st.Upload
	out := api.UploadStatus{
		UploadID:        u.ID,
		Status:          string(st.Status),
		UploadedChunks:  make([]api.ChunkInfo, 0, len(st.Chunks)),
		ChunksCompleted: st.Completed,
		ChunksPending:   st.Pending,
		PageInfo:        pageInfo,
		TotalSize:       u.TotalSize,
		UploadedSize:    st.UploadedSize,
		CreatedAt:       u.CreatedAt.Truncate(time.Millisecond),
		UpdatedAt:       u.UpdatedAt.Truncate(time.Millisecond),
		AssetID:         u.AssetID,
		ChunkSize:       u.ChunkSize,
		TotalChunks:     u.TotalChunks,
	}
	for _, c := range st.Chunks {
		ci := api.ChunkInfo{Index: c.Index, Status: api.ChunkPending, UploadedAt: msPtr(c.UploadedAt), UpdatedAt: msPtr(c.UpdatedAt)}
		if c.Completed {
			ci.Status = api.ChunkCompleted
		}
		out.UploadedChunks = append(out.UploadedChunks, ci)
	}
	return out
}

// UploadSummary converts a session for the list of incomplete uploads.
func UploadSummary(u *asset.Upload) api.UploadSummary {
	return api.UploadSummary{
		UploadID:    u.ID,
		Status:      string(u.Status),
		TotalSize:   u.TotalSize,
		ChunkSize:   u.ChunkSize,
		TotalChunks: u.TotalChunks,
		CreatedAt:   u.CreatedAt.Truncate(time.Millisecond),
		ExpiresAt:   u.ExpiresAt.Truncate(time.Millisecond),
		AssetID:     u.AssetID,
	}
}

func msPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Truncate(time.Millisecond)
	return &v
}

package api

import "time"

// Asset status values.
const (
	AssetProcessing = "processing"
	AssetReady      = "ready"
	AssetFailed     = "failed"
)

// Asset upload methods.
const (
	MethodDirect    = "direct"
	MethodURL       = "url"
	MethodMultipart = "multipart"
)

// Asset types, as used by the asset_types filter and multipart uploads.
const (
	AssetTypeVideo = "video"
	AssetTypeAudio = "audio"
	AssetTypeImage = "image"
)

// Multipart upload session and chunk status values.
const (
	UploadActive    = "active"
	UploadCompleted = "completed"
	UploadFailed    = "failed"
	UploadExpired   = "expired"

	ChunkCompleted = "completed"
	ChunkPending   = "pending"
	ChunkFailed    = "failed"
)

// Asset is the body of GET /assets/{id}, of POST /assets (201) and an item
// of the asset list. Note the wire name "_id" of ID.
type Asset struct {
	ID           string         `json:"_id"`
	Method       string         `json:"method,omitempty"`
	Status       string         `json:"status"`
	Filename     string         `json:"filename,omitempty"`
	FileType     string         `json:"file_type,omitempty"` // MIME type
	CreatedAt    time.Time      `json:"created_at"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	// TechnicalMetadata is set once the asset is ready.
	TechnicalMetadata *TechnicalMetadata `json:"technical_metadata,omitempty"`
	Size              *int64             `json:"size,omitempty"`     // bytes, once ready
	Duration          *float64           `json:"duration,omitempty"` // seconds, video and audio, once ready
	Error             *AssetError        `json:"error,omitempty"`    // only when failed
}

// TechnicalMetadata is what probing the file found. Every field is optional.
type TechnicalMetadata struct {
	FileSizeBytes        int64   `json:"file_size_bytes,omitempty"`
	FileMimeType         string  `json:"file_mime_type,omitempty"`
	FileContainerFormat  string  `json:"file_container_format,omitempty"`
	VideoCodec           string  `json:"video_codec,omitempty"`
	VideoWidth           int     `json:"video_width,omitempty"`
	VideoHeight          int     `json:"video_height,omitempty"`
	VideoFPS             float64 `json:"video_fps,omitempty"`
	VideoDurationSeconds float64 `json:"video_duration_seconds,omitempty"`
	VideoBitrateBps      int64   `json:"video_bitrate_bps,omitempty"`
	AudioCodec           string  `json:"audio_codec,omitempty"`
	AudioSampleRate      int     `json:"audio_sample_rate,omitempty"`
	AudioChannels        int     `json:"audio_channels,omitempty"`
	AudioDurationSeconds float64 `json:"audio_duration_seconds,omitempty"`
	HasAudio             *bool   `json:"has_audio,omitempty"`
	StorageAspectRatio   float64 `json:"storage_aspect_ratio,omitempty"`
	ImageWidth           int     `json:"image_width,omitempty"`
	ImageHeight          int     `json:"image_height,omitempty"`
	ImageFormat          string  `json:"image_format,omitempty"`
}

// AssetError explains why an asset failed.
type AssetError struct {
	Message string `json:"message"`
}

// AssetList is the body of GET /assets.
type AssetList struct {
	Data     []Asset  `json:"data"`
	PageInfo PageInfo `json:"page_info"`
}

// CreateUploadRequest is the body of POST /assets/multipart-uploads.
type CreateUploadRequest struct {
	Filename        string         `json:"filename"`
	Type            string         `json:"type"` // video, audio or image
	TotalSize       int64          `json:"total_size"`
	EnableHLS       *bool          `json:"enable_hls,omitempty"`
	EnableThumbnail *bool          `json:"enable_thumbnail,omitempty"`
	UserMetadata    map[string]any `json:"user_metadata,omitempty"`
}

// PresignedURL is where to PUT one chunk. The URL is single-use.
type PresignedURL struct {
	ChunkIndex int       `json:"chunk_index"` // from 1
	URL        string    `json:"url"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// CreateUploadResponse is the 201 body of POST /assets/multipart-uploads.
// UploadURLs may cover only the first chunks; ask for more with
// POST /assets/multipart-uploads/{id}/presigned-urls.
type CreateUploadResponse struct {
	UploadID      string            `json:"upload_id"`
	AssetID       string            `json:"asset_id"`
	UploadURLs    []PresignedURL    `json:"upload_urls"`
	UploadHeaders map[string]string `json:"upload_headers"`
	ChunkSize     int64             `json:"chunk_size"`
	TotalChunks   int               `json:"total_chunks"`
	ExpiresAt     time.Time         `json:"expires_at"`
}

// UploadStatus is the body of GET /assets/multipart-uploads/{id}: the
// session and one page of its chunks.
type UploadStatus struct {
	UploadID        string      `json:"upload_id"`
	Status          string      `json:"status"`
	UploadedChunks  []ChunkInfo `json:"uploaded_chunks"`
	ChunksCompleted int         `json:"chunks_completed"`
	ChunksFailed    int         `json:"chunks_failed"`
	ChunksPending   int         `json:"chunks_pending"`
	PageInfo        PageInfo    `json:"page_info"`
	TotalSize       int64       `json:"total_size"`
	UploadedSize    int64       `json:"uploaded_size"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	// AssetID, ChunkSize and TotalChunks are framewise extensions: the
	// asset the upload becomes and how the file is cut, so that a client
	// can resume an upload from its status alone.
	AssetID     string `json:"asset_id,omitempty"`
	ChunkSize   int64  `json:"chunk_size,omitempty"`
	TotalChunks int    `json:"total_chunks,omitempty"`
}

// ChunkInfo is the state of one chunk. A chunk is completed once it was
// reported with a matching ETag.
type ChunkInfo struct {
	Index      int        `json:"index"`
	Status     string     `json:"status"`
	UploadedAt *time.Time `json:"uploaded_at,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// ReportChunksRequest is the body of POST /assets/multipart-uploads/{id}.
type ReportChunksRequest struct {
	CompletedChunks []CompletedChunk `json:"completed_chunks"`
}

// CompletedChunk proves that a chunk was uploaded: Proof is the ETag the
// presigned URL answered with (quotes optional).
type CompletedChunk struct {
	ChunkIndex int    `json:"chunk_index"`
	Proof      string `json:"proof"`
	ProofType  string `json:"proof_type"` // "etag"
	ChunkSize  int64  `json:"chunk_size"`
}

// ReportChunksResponse is the 200 body of a chunk report. URL is set once
// every chunk has been reported: the upload is complete and the asset is
// processing.
type ReportChunksResponse struct {
	URL             string `json:"url,omitempty"`
	AssetID         string `json:"asset_id"`
	ProcessedChunks int    `json:"processed_chunks"`
	DuplicateChunks int    `json:"duplicate_chunks"`
	TotalCompleted  int    `json:"total_completed"`
}

// PresignedURLsRequest is the body of POST /assets/multipart-uploads/{id}/presigned-urls.
type PresignedURLsRequest struct {
	Start int `json:"start"` // first chunk index, from 1
	Count int `json:"count"` // at most 50
}

// PresignedURLsResponse is the 200 body of a request for more URLs.
type PresignedURLsResponse struct {
	UploadID    string         `json:"upload_id"`
	StartIndex  int            `json:"start_index"`
	Count       int            `json:"count"`
	UploadURLs  []PresignedURL `json:"upload_urls"`
	GeneratedAt time.Time      `json:"generated_at"`
	ExpiresAt   time.Time      `json:"expires_at"`
}

// UploadSummary is an item of GET /assets/multipart-uploads.
type UploadSummary struct {
	UploadID    string    `json:"upload_id"`
	Status      string    `json:"status"`
	TotalSize   int64     `json:"total_size"`
	ChunkSize   int64     `json:"chunk_size"`
	TotalChunks int       `json:"total_chunks"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// AssetID is a framewise extension: the asset the upload becomes.
	AssetID string `json:"asset_id,omitempty"`
}

// UploadList is the body of GET /assets/multipart-uploads.
type UploadList struct {
	Data     []UploadSummary `json:"data"`
	PageInfo PageInfo        `json:"page_info"`
}

// Error codes of the asset and upload endpoints (flat error bodies), and of
// task creation from an asset.
const (
	CodeAssetNotReady       = "asset_not_ready"       // 400: the asset is processing or failed
	CodeAssetTypeMismatch   = "asset_type_mismatch"   // 400: e.g. an audio asset as a task's video
	CodeAssetInUse          = "asset_in_use"          // 409: queued or running tasks need the asset
	CodeFileTypeUnsupported = "file_type_unsupported" // 400: not a video, audio or image file
	CodeFileTooLarge        = "file_too_large"        // 413: over the limit of its type and method
	CodeUploadURLInvalid    = "upload_url_invalid"    // 403: missing or wrong signature
	CodeUploadURLExpired    = "upload_url_expired"    // 403
	CodeUploadURLUsed       = "upload_url_used"       // 403: presigned URLs are single-use
	CodeUploadNotActive     = "upload_not_active"     // 403/400: the session is completed or expired
	CodeChunkCompleted      = "chunk_already_completed"
)

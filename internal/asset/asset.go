// Package asset owns assets — video, audio and image files uploaded once
// and analyzed many times — and the multipart upload sessions that create
// large ones (spec §4.6–§4.7).
//
// An asset is created in status processing by a direct upload, a URL or a
// completed multipart session; a job (Process) then downloads or assembles
// the file if needed, probes it with FFmpeg and moves it to ready (with
// size, duration and technical metadata) or failed (with a message). Ready
// is about the file being readable media; whether a video meets the
// analysis requirements is recorded (Unanalyzable) and enforced when a task
// uses it.
//
// Multipart chunks are PUT to presigned URLs that point at framewise itself:
// HMAC-signed with the server secret, expiring, single-use (see Signer).
// Every byte is streamed to the blob store: memory use does not depend on
// file size.
//
// The package reaches storage, the job queue, downloads and FFmpeg through
// the consumer-side interfaces Store, Blobs, Downloader and Media.
package asset

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Status is the lifecycle state of an asset: processing, then ready or failed.
type Status string

// Asset states.
const (
	Processing Status = "processing"
	Ready      Status = "ready"
	Failed     Status = "failed"
)

// Type is the kind of media of an asset.
type Type string

// Asset types. Documents (upstream's fourth type) are not accepted.
const (
	Video Type = "video"
	Audio Type = "audio"
	Image Type = "image"
)

// Method is how an asset was uploaded.
type Method string

// Upload methods, as on the wire.
const (
	Direct    Method = "direct"
	URL       Method = "url"
	Multipart Method = "multipart"
)

// Asset is one uploaded file as stored.
type Asset struct {
	ID     string
	Method Method
	Status Status
	// Type is a guess from the file name, MIME type and first bytes until
	// the asset is processed, then what probing found.
	Type     Type
	Filename string
	FileType string // MIME type
	// SourceURL is the URL of a url upload; UploadID the session of a
	// multipart one.
	SourceURL string
	UploadID  string
	// BlobKey names the stored file once there is one.
	BlobKey  string
	Size     int64
	Duration *float64
	// Technical is what probing found; set when ready.
	Technical    *Technical
	UserMetadata map[string]any
	// Unanalyzable says why a ready video asset fails the analysis input
	// requirements (duration, resolution, aspect ratio); "" when it meets
	// them. Tasks that use the asset are refused with this message.
	Unanalyzable string
	ErrorMessage string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Technical is the technical metadata of a ready asset, named as on the
// wire (api.TechnicalMetadata has the same fields).
type Technical struct {
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

// Filter selects a page of assets, newest first. Empty fields match all.
type Filter struct {
	IDs      []string // any of
	Types    []Type   // any of
	Filename string   // case-insensitive substring
	Page     int      // 1-based
	Limit    int
}

// UploadStatus is the state of a multipart upload session.
type UploadStatus string

// Session states.
const (
	UploadActive    UploadStatus = "active"
	UploadCompleted UploadStatus = "completed"
	UploadExpired   UploadStatus = "expired"
)

// Upload is a multipart upload session. Its asset row is created when the
// last chunk is reported; until then AssetID is reserved.
type Upload struct {
	ID           string
	AssetID      string
	Status       UploadStatus
	Filename     string
	Type         Type
	TotalSize    int64
	ChunkSize    int64
	TotalChunks  int
	UserMetadata map[string]any
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    time.Time
}

// ChunkLen is the size chunk index (from 1) must have: ChunkSize, or the
// remainder for the last chunk.
func (u *Upload) ChunkLen(index int) int64 {
	if index < u.TotalChunks {
		return u.ChunkSize
	}
	return u.TotalSize - int64(u.TotalChunks-1)*u.ChunkSize
}

// Chunk is a chunk that was PUT. It is completed once Reported is set.
type Chunk struct {
	Index      int
	Size       int64
	ETag       string // lowercase hex MD5 of the bytes, without quotes
	BlobKey    string
	UploadedAt time.Time
	Reported   *time.Time
}

// Error is a request the client must change, with the HTTP status and code
// to send. Message says what was wrong and what to do.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "parameter_invalid", format, args...)
}

func missing(param string) *Error {
	return errorf(http.StatusBadRequest, "parameter_not_provided", "The %s parameter is required but was not provided.", param)
}

// Sentinel errors of the Store. The Service turns them into *Error with
// the id in the message.
var (
	ErrNotFound       = errors.New("asset not found")
	ErrUploadNotFound = errors.New("upload not found")
	// ErrURLUsed: the presigned URL was already used (or is in use).
	ErrURLUsed = errors.New("presigned URL already used")
	// ErrChunkReported: the chunk is already completed and cannot change.
	ErrChunkReported = errors.New("chunk already reported")
)

// newID returns a 24-character lowercase hex id whose first 8 characters
// are the creation time in seconds, like upstream ids.
func newID(now time.Time) string {
	var b [12]byte
	s := uint32(now.Unix())
	b[0], b[1], b[2], b[3] = byte(s>>24), byte(s>>16), byte(s>>8), byte(s)
	_, _ = rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// SourceKey is the blob key of an asset's file.
func SourceKey(id string) string { return "assets/" + id + "/source" }

// partsPrefix is the blob prefix under which a session's chunks are kept.
func partsPrefix(uploadID string) string { return "uploads/" + uploadID }

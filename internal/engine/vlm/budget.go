package vlm

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/framewise/framewise/internal/engine"
	"github.com/framewise/framewise/internal/inference"
)

// Token budget per call (BACKENDS.md §1): every call must fit the context
// the server enforces, prompt plus the answer it may write. Servers differ
// in what they do otherwise — vLLM, SGLang and OpenAI refuse with 400,
// llama.cpp cuts the answer at the context with "length", Ollama silently
// drops the oldest parts of the prompt — so the engine sizes each call
// before sending it, and shrinks a call the server still finds too large.

// DefaultContextTokens is the context assumed when neither the profile nor
// the server says (a hosted API, or a server that was down at start).
const DefaultContextTokens = 32768

const (
	// minFrames is the fewest frames a window may have: a model needs two
	// to see a change.
	minFrames = 2
	// minWindowOutput is the least answer a window call must be allowed:
	// below it the window is split rather than sent.
	minWindowOutput = 512
	// maxWindowOutput bounds what a window call asks for however large the
	// task's max_tokens: a window's answer is notes or segments of a few
	// frames, not the task's answer.
	maxWindowOutput = 4096
	// frameLabelTokens is the time label before each frame ("t=12.500s").
	frameLabelTokens = 8
	// messageTokens is the overhead of one message (role, separators).
	messageTokens = 8
	// transcriptAllowance is kept free in a window for transcript lines.
	transcriptAllowance = 256
)

// sizer sizes the calls of one task. It starts from the limits the profile
// and the server gave, and learns from the server's answers: a server that
// counts more tokens than estimated raises the scale, an overflow or an
// image limit lowers the frames per call for the windows still to come.
type sizer struct {
	backend     string
	limits      inference.Limits
	imageTokens int // per frame, as the server counts when it decides what fits
	frameTokens int // the engine's estimate of what a frame really costs

	mu      sync.Mutex
	context int
	scale   float64
	perCall int
}

// newSizer decides the budget of a task: the profile's context_tokens win,
// then what the server said when probed, then DefaultContextTokens.
func (e *Engine) newSizer(ctx context.Context, fixed int) (*sizer, error) {
	var lim inference.Limits
	if e.cfg.Limits != nil {
		lim = e.cfg.Limits(ctx)
	}
	switch {
	case e.cfg.ContextTokens > 0:
		lim.ContextTokens, lim.ContextSource = e.cfg.ContextTokens, "profile context_tokens"
	case lim.ContextTokens <= 0:
		lim.ContextTokens, lim.ContextSource = DefaultContextTokens, "default, not reported by the server"
	}
	s := &sizer{backend: e.cfg.Name, limits: lim, context: lim.ContextTokens, scale: 1,
		frameTokens: FrameTokens(e.cfg.FrameWidth)}
	s.imageTokens = max(s.frameTokens, lim.ImageTokens)
	fit := (s.context - s.margin() - fixed - transcriptAllowance - minWindowOutput) / (s.imageTokens + frameLabelTokens)
	s.perCall = min(e.cfg.FramesPerCall, fit)
	if lim.MaxImages > 0 {
		s.perCall = min(s.perCall, lim.MaxImages)
	}
	if s.perCall < minFrames {
		return nil, &engine.Refusal{Message: s.advice(fmt.Sprintf(
			"one frame (%d tokens as the server counts it) and the instructions (about %d tokens) with room for an answer (%d) do not fit",
			s.imageTokens, fixed, minWindowOutput))}
	}
	if s.perCall < e.cfg.FramesPerCall {
		e.cfg.Log.Info("frames per call lowered to fit the model's context",
			"backend", e.cfg.Name, "context_tokens", s.context, "context_source", lim.ContextSource,
			"image_tokens", s.imageTokens, "frames_per_call", e.cfg.FramesPerCall, "lowered_to", s.perCall)
	}
	return s, nil
}

// margin is kept free in every call, for the difference between the
// engine's estimate and the server's own count.
func (s *sizer) margin() int { return s.context/20 + 128 }

// frames is the current frames-per-call budget.
func (s *sizer) frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perCall
}

// overlap is how many frames consecutive windows of perCall frames share:
// overlapFrames, or one when windows are small, so that each still moves
// on by at least half its frames.
func overlap(perCall int) int {
	if perCall >= 2*overlapFrames+2 {
		return overlapFrames
	}
	return 1
}

// textTokens estimates the tokens of text: about 3 characters a token,
// which over-counts English prose and under-counts little.
func textTokens(text string) int { return (len(text) + 2) / 3 }

// estimate is the engine's count of a request's prompt tokens with images
// at imageTokens each.
func estimate(msgs []inference.Message, imageTokens int) int {
	n := 0
	for _, m := range msgs {
		n += messageTokens
		for _, p := range m.Parts {
			if p.Image != nil {
				n += imageTokens
			} else {
				n += textTokens(p.Text)
			}
		}
	}
	return n
}

// room is how many tokens of answer fit after the prompt of msgs.
func (s *sizer) room(msgs []inference.Message) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.context - s.margin() - int(math.Ceil(float64(estimate(msgs, s.imageTokens))*s.scale))
}

// output is what a call asks for: want, capped by the room left.
func (s *sizer) output(msgs []inference.Message, want int) int {
	return min(want, s.room(msgs))
}

// learn takes what a server said about a call it found too large: its own
// count of the prompt, its context, its image limit. It lowers the frames
// per call of the windows still to come to what would have fitted.
func (s *sizer) learn(be *inference.BackendError, msgs []inference.Message, frames int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if be.ContextTokens > 0 && be.ContextTokens < s.context {
		s.context = be.ContextTokens
	}
	if est := estimate(msgs, s.imageTokens); be.PromptTokens > 0 && est > 0 {
		s.scale = math.Max(s.scale, float64(be.PromptTokens)/float64(est)*1.05)
	}
	if be.ImageLimit > 0 {
		s.limits.MaxImages = be.ImageLimit
		s.perCall = min(s.perCall, be.ImageLimit)
	}
	// Whatever the cause, the next windows get fewer frames than this one.
	s.perCall = max(minFrames, min(s.perCall, frames-1, (frames+1)/2+1))
}

// truncated reports a response whose prompt was silently cut by a server
// that drops the oldest parts of a prompt too long for its context
// (Ollama): the server counted far fewer prompt tokens than were sent.
func (s *sizer) truncated(msgs []inference.Message, resp *inference.ChatResponse) *inference.BackendError {
	if !s.limits.DropsOldest || resp.InputTokens <= 0 {
		return nil
	}
	est := estimate(msgs, s.frameTokens)
	if float64(resp.InputTokens) >= 0.5*float64(est) {
		return nil
	}
	return &inference.BackendError{Backend: s.backend, Overflow: true, Message: fmt.Sprintf(
		"model backend %q counted %d prompt tokens for a request of about %d: it dropped part of the prompt, as Ollama does when it exceeds num_ctx",
		s.backend, resp.InputTokens, est)}
}

// advice is the message of a task that cannot be served within the
// server's context, with the numbers and the fix for that server.
func (s *sizer) advice(what string) string {
	msg := fmt.Sprintf("The model %s cannot take this task: %s within its context of %d tokens (%s).",
		s.backend, what, s.context, s.limits.ContextSource)
	switch s.limits.Server {
	case inference.ServerOllama:
		msg += " Raise Ollama's num_ctx: start it with OLLAMA_CONTEXT_LENGTH=32768, or set PARAMETER num_ctx 32768 in the model's Modelfile."
	case inference.ServerVLLM:
		msg += " Start vLLM with a larger --max-model-len, or lower frame_width."
	case inference.ServerLlamaCpp:
		msg += " Start llama-server with a larger -c (it is shared by its --parallel slots), or lower frame_width."
	case inference.ServerSGLang:
		msg += " Start SGLang with a larger --context-length, or lower frame_width."
	default:
		msg += " Use a model with a larger context, set context_tokens in the profile to the real value, or lower frame_width."
	}
	return msg
}

package inferencetest

import (
	"fmt"
	"net/http"
)

// accounting is what the server made of a request's size.
type accounting struct {
	keep    []bool    // parts the model sees (nil: all)
	dropped int       // parts Ollama dropped
	prompt  int       // prompt tokens as the server counts them, after dropping
	room    int       // tokens the context leaves for the answer; -1 = no limit
	refuse  *apiError // the request is refused
}

// account counts the prompt as the personality's server does and decides
// what the context allows: a refusal (vLLM, SGLang, llama.cpp, OpenAI),
// dropped parts (Ollama), and the room left for the answer. maxTokens is the
// request's max_tokens or max_completion_tokens, 0 if unset.
func (s *Server) account(req *chatRequest, parts []part, maxTokens int) accounting {
	acc := accounting{room: -1}
	if s.friendly() {
		chars, images := 0, 0
		for _, pt := range parts {
			if pt.image {
				images++
			} else {
				chars += len(pt.Text)
			}
		}
		acc.prompt = (chars+3)/4 + 85*images
		return acc
	}
	cost := func(pt part) int {
		if pt.image {
			return s.imageTokens(pt.w, pt.h, pt.detail)
		}
		return textTokens(pt.Text)
	}
	n := s.pers.ContextTokens

	if s.pers.Name == nameOllama {
		// Each content part is a message of its own. Drop the oldest until
		// the estimate (768 per image) fits num_ctx, keeping system
		// messages and the last part.
		acc.keep = make([]bool, len(parts))
		est := 0
		for i, pt := range parts {
			acc.keep[i] = true
			if pt.image {
				est += msgOverhead + ollamaImageEstimate
			} else {
				est += msgOverhead + textTokens(pt.Text)
			}
		}
		for i := 0; n > 0 && est > n && i < len(parts)-1; i++ {
			if parts[i].role == "system" {
				continue
			}
			acc.keep[i] = false
			acc.dropped++
			if parts[i].image {
				est -= msgOverhead + ollamaImageEstimate
			} else {
				est -= msgOverhead + textTokens(parts[i].Text)
			}
		}
		for i, pt := range parts {
			if acc.keep[i] {
				acc.prompt += msgOverhead + cost(pt)
			}
		}
		if n > 0 {
			acc.room = max(n-acc.prompt, 0)
		}
		return acc
	}

	acc.prompt = msgOverhead * len(req.Messages)
	for _, pt := range parts {
		acc.prompt += cost(pt)
	}
	p := acc.prompt
	m := maxTokens
	if m == 0 && n > 0 {
		m = max(n-p, 1)
	}
	refuse := func(e apiError) accounting {
		acc.refuse = &e
		return acc
	}
	switch s.pers.Name {
	case nameVLLM:
		if n > 0 && p+m > n {
			return refuse(apiError{status: http.StatusBadRequest, param: "input_tokens", message: fmt.Sprintf(
				"You passed %d input tokens and requested %d output tokens. However, the model's context length is only %d tokens, resulting in a maximum input length of %d tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=%d)",
				p, m, n, n-m, p)})
		}
	case nameSGLang:
		if n > 0 && p > n {
			return refuse(errorf(http.StatusBadRequest, "The input (%d tokens) is longer than the model's context length (%d tokens).", p, n))
		}
		if n > 0 && p+m > n {
			return refuse(errorf(http.StatusBadRequest,
				"Requested token count exceeds the model's maximum context length of %d tokens. You requested a total of %d tokens: %d tokens from the input messages and %d tokens for the completion. Please reduce the number of tokens in the input messages or the completion to fit within the limit.",
				n, p+m, p, m))
		}
	case nameLlamaCpp:
		// max_tokens is never checked against the context: the answer
		// stops when the context is full.
		if n > 0 && p >= n {
			return refuse(apiError{status: http.StatusBadRequest, typ: "exceed_context_size_error",
				message: fmt.Sprintf("request (%d tokens) exceeds the available context size (%d tokens), try increasing it", p, n),
				extra:   map[string]any{"n_prompt_tokens": p, "n_ctx": n}})
		}
	default: // openai and custom names
		if l := s.pers.TPMLimit; l > 0 && p+m > l {
			return refuse(apiError{status: http.StatusTooManyRequests, typ: "tokens", code: "rate_limit_exceeded", message: fmt.Sprintf(
				"Request too large for gpt-4o in organization org-framewise on tokens per min (TPM): Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully.",
				l, p+m)})
		}
		if n > 0 && p+m > n {
			return refuse(apiError{status: http.StatusBadRequest, param: "messages", code: "context_length_exceeded", message: fmt.Sprintf(
				"This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.",
				n, p)})
		}
	}
	if n > 0 {
		acc.room = max(n-p, 0)
	}
	return acc
}

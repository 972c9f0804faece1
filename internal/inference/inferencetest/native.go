package inferencetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The endpoints a prober reads besides /v1/models, at the root of the host:
// llama.cpp's /props and /health, Ollama's /api/version, /api/show and
// /api/ps, vLLM's and SGLang's /health. A server without the endpoint
// answers 404.

// nCtxTrain is the training context the llama.cpp personality reports.
const nCtxTrain = 131072

// ollamaContextLength is the model's own context Ollama's /api/show
// reports (Qwen2.5-VL).
const ollamaContextLength = 128000

// ollamaDefaultNumCtx is Ollama's default num_ctx (0.7 to 0.15.4).
const ollamaDefaultNumCtx = 4096

func (s *Server) routeNative(mux *http.ServeMux) {
	mux.HandleFunc("GET /props", s.handleProps)
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /api/version", s.handleOllamaVersion)
	mux.HandleFunc("POST /api/show", s.handleOllamaShow)
	mux.HandleFunc("GET /api/ps", s.handleOllamaPS)
	mux.HandleFunc("GET /{$}", s.handleRoot)
}

// notFound answers 404 as the personality's HTTP framework does.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	switch s.pers.Name {
	case nameVLLM, nameSGLang: // FastAPI
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	case nameOpenAI:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "type": "invalid_request_error", "param": nil, "code": nil}})
	default:
		http.NotFound(w, r)
	}
}

// modelNames are the models the server serves.
func (s *Server) modelNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.models) == 0 {
		return []string{"inferencetest"}
	}
	return slices.Clone(s.models)
}

func (s *Server) handleModels(w http.ResponseWriter, _ *http.Request) {
	names := s.modelNames()
	created := time.Now().Unix()
	data := []map[string]any{}
	for _, n := range names {
		m := map[string]any{"id": n, "object": "model"}
		switch s.pers.Name {
		case "":
			m["owned_by"] = "inferencetest"
		case nameVLLM, nameSGLang:
			m["created"], m["owned_by"], m["root"], m["parent"] = created, s.pers.Name, n, nil
			m["max_model_len"] = s.pers.ContextTokens
		case nameLlamaCpp:
			m["created"], m["owned_by"] = created, "llamacpp"
			m["meta"] = map[string]any{"vocab_type": 2, "n_vocab": 151936, "n_ctx_train": nCtxTrain, "n_embd": 3584, "n_params": 7615616512, "size": 4677120000}
		case nameOllama:
			m["created"], m["owned_by"] = created, "library"
		default:
			m["created"], m["owned_by"] = created, "system"
		}
		data = append(data, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) handleProps(w http.ResponseWriter, r *http.Request) {
	if s.pers.Name != nameLlamaCpp {
		s.notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"default_generation_settings": map[string]any{"n_ctx": s.pers.ContextTokens},
		"total_slots":                 1,
		"modalities":                  map[string]any{"vision": true, "audio": false},
		"model_path":                  "/models/qwen2.5-vl.gguf",
		"build_info":                  "b6000",
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	switch s.pers.Name {
	case nameLlamaCpp:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	case nameVLLM, nameSGLang: // 200 with an empty body
		w.WriteHeader(http.StatusOK)
	default:
		s.notFound(w, r)
	}
}

func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	if s.pers.Name != nameOllama {
		s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Ollama is running"))
}

func (s *Server) handleOllamaVersion(w http.ResponseWriter, r *http.Request) {
	if s.pers.Name != nameOllama {
		s.notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": "0.12.6"})
}

func (s *Server) handleOllamaShow(w http.ResponseWriter, r *http.Request) {
	if s.pers.Name != nameOllama {
		s.notFound(w, r)
		return
	}
	var req struct{ Model, Name string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid request body: " + err.Error()})
		return
	}
	name := cmpStr(req.Model, req.Name)
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "model is required"})
		return
	}
	s.mu.Lock()
	known := len(s.models) == 0 || slices.Contains(s.models, name)
	s.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("model '%s' not found", name)})
		return
	}
	params := ""
	if s.pers.ContextTokens != ollamaDefaultNumCtx {
		params = fmt.Sprintf("num_ctx %d", s.pers.ContextTokens)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"capabilities": []string{"completion", "vision"},
		"model_info": map[string]any{
			"general.architecture":    "qwen25vl",
			"qwen25vl.context_length": ollamaContextLength,
		},
		"parameters": params,
		"details":    map[string]any{"format": "gguf", "family": "qwen25vl", "parameter_size": "8.3B", "quantization_level": "Q4_K_M"},
	})
}

func (s *Server) handleOllamaPS(w http.ResponseWriter, r *http.Request) {
	if s.pers.Name != nameOllama {
		s.notFound(w, r)
		return
	}
	models := []map[string]any{}
	for _, n := range s.modelNames() {
		models = append(models, map[string]any{"name": n, "model": n, "context_length": s.pers.ContextTokens})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

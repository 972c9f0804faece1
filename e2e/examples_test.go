package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/framewise/framewise/client"
	"github.com/framewise/framewise/internal/inference/inferencetest"
)

// exampleModes are the requests of examples/, each in every runnable form:
// examples/curl/<mode>.sh (with <mode>.json), examples/go/<mode> and
// examples/js/<mode>.mjs.
var exampleModes = []string{"general", "json_schema", "prompt_v2", "time_based_metadata", "time_ranges"}

// exampleForms are the forms run everywhere. The Python examples run too
// when a python ($FRAMEWISE_PYTHON, else python3) can import the official
// SDK (twelvelabs); otherwise they are only parsed.
var exampleForms = []string{"curl", "go", "js"}

var exampleTaskLine = regexp.MustCompile(`task ([0-9a-f]{24}): ready`)

// TestExamples runs every runnable example against one framewise whose
// pegasus1.5 is served by the inferencetest double, on a colour video (red
// 0–10 s, blue 10–22 s, green 22–30 s) with a blue reference image for
// prompt_v2, and checks that each reaches ready and
// prints a result of the expected shape. The three forms of one mode must
// send the same request: the server's echo of the parameters is compared.
func TestExamples(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// Go: one build of every example, while the server starts.
	goBin := filepath.Join(dir, "go-bin")
	built := make(chan error, 1)
	go func() {
		build := exec.Command("go", "build", "-o", goBin+string(filepath.Separator), "./examples/go/...")
		build.Dir = root
		out, err := build.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ./examples/go/...: %v\n%s", err, out)
		}
		built <- err
	}()

	// JS: the examples import "twelvelabs-js" like any application, so
	// they run from a copy next to the conformance suite's node_modules
	// (installed by `npm ci` in conformance/, as scripts/test.sh does).
	jsDir, jsMissing := exampleJSDir(t, root, dir)

	forms := exampleForms
	python := examplePython(t, root)
	if python != "" {
		forms = append(slices.Clone(forms), "python")
	}

	// pegasus1.5 served by the double, as in startVLM, with enough workers
	// that the examples' tasks do not queue behind each other.
	double := inferencetest.New(t)
	cfg := filepath.Join(dir, "framewise.yaml")
	yaml := fmt.Sprintf(`models:
  pegasus1.5:
    backend: openai
    name: double
    base_url: %s
    model: test-vlm
    frames_per_call: 16
    max_parallel: 8
    frame_width: 160
    timeout: 30s
asr:
  name: double-asr
  base_url: %s
  model: test-asr
`, double.URL(), double.URL())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// All examples create at once: let creates queue rather than get 429s
	// (the curl examples do not retry).
	srv := startServer(t, t.TempDir(), "--config", cfg, "--workers", "6", "--create-queue-wait", "3m")
	video := exampleVideo(t)
	logo := filepath.Join(dir, "logo.jpg")
	jpg, err := inferencetest.SolidJPEG("blue", 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logo, jpg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	// Every example at once: go test's -parallel (the number of CPUs)
	// would run them two by two on a small machine.
	env := append(os.Environ(),
		"FRAMEWISE_URL=http://"+srv.addr,
		"FRAMEWISE_API_KEY="+testKey,
		"FRAMEWISE_POLL_SECONDS=0.2",
	)
	type run struct {
		mode, form     string
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
		err            error
	}
	var runs []*run
	for _, mode := range exampleModes {
		for _, form := range forms {
			r := &run{mode: mode, form: form}
			args := []string{video}
			if mode == "prompt_v2" {
				args = append(args, logo)
			}
			switch form {
			case "curl":
				r.cmd = exec.Command("bash", append([]string{filepath.Join(root, "examples", "curl", mode+".sh")}, args...)...)
			case "go":
				goArgs := []string{"-server", "http://" + srv.addr, "-key", testKey, "-video", video}
				if mode == "prompt_v2" {
					goArgs = append(goArgs, "-image", logo)
				}
				r.cmd = exec.Command(filepath.Join(goBin, mode), goArgs...)
			case "js":
				if jsMissing != "" {
					continue
				}
				r.cmd = exec.Command("node", append([]string{filepath.Join(jsDir, mode+".mjs")}, args...)...)
			case "python":
				r.cmd = exec.Command(python, append([]string{filepath.Join(root, "examples", "python", mode+".py")}, args...)...)
			}
			r.cmd.Env = env
			r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
			r.cmd.WaitDelay = time.Second
			runs = append(runs, r)
		}
	}
	began := time.Now()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.err = r.cmd.Start(); r.err != nil {
				return
			}
			timer := time.AfterFunc(5*time.Minute, func() { r.cmd.Process.Kill() })
			r.err = r.cmd.Wait()
			timer.Stop()
		}()
	}
	wg.Wait()
	t.Logf("%d examples ran in %s", len(runs), time.Since(began).Round(100*time.Millisecond))

	echoes := map[string]map[string]string{} // mode → form → request_params
	for _, r := range runs {
		t.Run(r.mode+"/"+r.form, func(t *testing.T) {
			if r.err != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", r.cmd, r.err, r.stdout.String(), r.stderr.String())
			}
			m := exampleTaskLine.FindStringSubmatch(r.stderr.String())
			if m == nil {
				t.Fatalf("no \"task ID: ready\" line on stderr:\n%s", r.stderr.String())
			}
			t.Logf("output:\n%s", r.stdout.String())
			checkExampleOutput(t, root, r.mode, r.stdout.String())

			var raw json.RawMessage
			if _, err := srv.client().GetTask(waitCtx(t, 10*time.Second), m[1], client.WithRawResponse(&raw)); err != nil {
				t.Fatal(err)
			}
			var task struct {
				RequestParams json.RawMessage `json:"request_params"`
			}
			if err := json.Unmarshal(raw, &task); err != nil || task.RequestParams == nil {
				t.Fatalf("task %s has no request_params: %s", m[1], raw)
			}
			var compact bytes.Buffer
			json.Compact(&compact, task.RequestParams)
			if echoes[r.mode] == nil {
				echoes[r.mode] = map[string]string{}
			}
			echoes[r.mode][r.form] = compact.String()
		})
	}
	if jsMissing != "" {
		t.Run("js", func(t *testing.T) { t.Skip(jsMissing) })
	}
	for _, mode := range exampleModes {
		ref := echoes[mode]["curl"]
		for form, got := range echoes[mode] {
			if ref != "" && got != ref {
				t.Errorf("%s: the %s example sends another request than the curl one:\n  curl: %s\n  %s: %s", mode, form, ref, form, got)
			}
		}
	}
}

// exampleVideo is colourVideo's red 0–10 s, blue 10–22 s, green 22–30 s
// at 5 frames per second and without sound: the same answers from the
// double for a fifth of the decoding.
func exampleVideo(t *testing.T) string {
	t.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	dir := filepath.Join(os.TempDir(), "framewise-e2e-videos")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "examples-colours-10-22-30-5fps.mp4")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp.mp4"
	cmd := exec.Command("ffmpeg", "-y", "-v", "error",
		"-f", "lavfi", "-i", "color=c=red:size=640x360:rate=5:duration=10",
		"-f", "lavfi", "-i", "color=c=blue:size=640x360:rate=5:duration=12",
		"-f", "lavfi", "-i", "color=c=green:size=640x360:rate=5:duration=8",
		"-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]", "-map", "[v]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "5", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// examplePython parses every Python example and returns the python to run
// them with, or "" when none can import the SDK.
func examplePython(t *testing.T, root string) string {
	t.Helper()
	py := os.Getenv("FRAMEWISE_PYTHON")
	if py == "" {
		py = "python3"
	}
	if _, err := exec.LookPath(py); err != nil {
		t.Logf("Python examples not checked: no %s", py)
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "python", "*.py"))
	if len(files) != len(exampleModes) {
		t.Errorf("examples/python has %d files, want one per mode (%d)", len(files), len(exampleModes))
	}
	args := append([]string{"-c", "import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)"}, files...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Errorf("Python examples do not parse: %v\n%s", err, out)
	}
	if err := exec.Command(py, "-c", "import twelvelabs").Run(); err != nil {
		t.Logf("Python examples parsed, not run: %s cannot import twelvelabs", py)
		return ""
	}
	return py
}

// exampleJSDir copies examples/js into dir/js with a node_modules link to
// conformance/node_modules, or says why the JS examples cannot run.
func exampleJSDir(t *testing.T, root, dir string) (jsDir, missing string) {
	t.Helper()
	modules := filepath.Join(root, "conformance", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "twelvelabs-js", "package.json")); err != nil {
		return "", "twelvelabs-js is not installed: run `npm ci` in conformance/"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", "node is not installed"
	}
	jsDir = filepath.Join(dir, "js")
	if err := os.MkdirAll(jsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "js", "*.mjs"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(jsDir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(jsDir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return jsDir, ""
}

var (
	clockSeconds = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}$`)
	clockMillis  = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}\.\d{3}$`)
)

// checkExampleOutput checks what an example printed for mode, knowing what
// the double sees in the colour video.
func checkExampleOutput(t *testing.T, root, mode, out string) {
	t.Helper()
	switch mode {
	case "general":
		for _, c := range []string{"red", "blue", "green"} {
			if !strings.Contains(out, c) {
				t.Errorf("answer does not mention %s:\n%s", c, out)
			}
		}
	case "prompt_v2":
		// The logo is blue: on screen from 10 s to 22 s (give or take the
		// sampling of frames).
		_, after, ok := strings.Cut(out, "logo")
		var times []float64
		for _, m := range regexp.MustCompile(`(\d+(?:\.\d+)?)s\b`).FindAllStringSubmatch(after, -1) {
			var v float64
			fmt.Sscan(m[1], &v)
			times = append(times, v)
		}
		near := func(want float64) bool {
			return slices.ContainsFunc(times, func(v float64) bool { return v > want-0.5 && v < want+0.5 })
		}
		if !ok || !near(10) || !near(22) {
			t.Errorf("answer does not place the logo from 10 s to 22 s:\n%s", out)
		}
	case "json_schema":
		checkExampleSchemaOutput(t, root, out)
	case "time_based_metadata":
		segs := exampleSegments(t, out, "scenes", "title_cards")
		if len(segs["scenes"]) < 4 {
			t.Errorf("scenes = %d segments, want the three colour runs with the two longer than 8 s split", len(segs["scenes"]))
		}
		for id, list := range segs {
			for _, s := range list {
				st, en := clockTime(t, s["start_time"], clockMillis), clockTime(t, s["end_time"], clockMillis)
				if en-st < 2-0.01 || en-st > 8+0.01 {
					t.Errorf("%s segment %v–%v is outside min/max_segment_duration 2–8 s", id, s["start_time"], s["end_time"])
				}
				md, _ := s["metadata"].(map[string]any)
				if id == "title_cards" {
					checkFields(t, id, md, map[string]func(any) bool{"text": isString, "shown_at": isNumber})
					continue
				}
				checkFields(t, id, md, map[string]func(any) bool{
					"summary":      isString,
					"setting":      oneOf("indoors", "outdoors", "studio", "screen", "unknown"),
					"people":       isInteger,
					"brightness":   isNumber,
					"has_text":     isBool,
					"objects":      arrayOf(isString),
					"shot_types":   arrayOf(oneOf("close-up", "medium", "wide", "static", "moving")),
					"highlight_at": matches(clockSeconds),
				})
			}
		}
	case "time_ranges":
		segs := exampleSegments(t, out, "opening", "later_shots")
		ranges := map[string][][2]float64{"opening": {{0, 8}}, "later_shots": {{12, 16}, {20, 24}}}
		for id, list := range segs {
			if len(list) == 0 {
				t.Errorf("%s: no segments", id)
			}
			for _, s := range list {
				st, en := clockTime(t, s["start_time"], clockSeconds), clockTime(t, s["end_time"], clockSeconds)
				if !slices.ContainsFunc(ranges[id], func(r [2]float64) bool { return st >= r[0] && en <= r[1] }) {
					t.Errorf("%s segment %v–%v is outside its time ranges %v", id, s["start_time"], s["end_time"], ranges[id])
				}
				md, _ := s["metadata"].(map[string]any)
				want := map[string]func(any) bool{"description": isString, "mood": oneOf("calm", "tense", "joyful", "sad", "neutral")}
				if id == "later_shots" {
					want = map[string]func(any) bool{"description": isString, "duration": isNumber}
				}
				checkFields(t, id, md, want)
			}
		}
	}
}

// checkExampleSchemaOutput validates the printed document against the schema
// of examples/curl/json_schema.json, its timestamps read as their format.
func checkExampleSchemaOutput(t *testing.T, root, out string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(root, "examples", "curl", "json_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		ResponseFormat struct {
			JSONSchema map[string]any `json:"json_schema"`
		} `json:"response_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	schema := timestampsAsStrings(req.ResponseFormat.JSONSchema)
	c := jsonschema.NewCompiler()
	if err := c.AddResource("example.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("example.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("output does not follow the schema: %v\n%s", err, out)
	}
	var got struct {
		DominantColor string `json:"dominant_color"`
		SceneCount    int    `json:"scene_count"`
		Scenes        []any  `json:"scenes"`
	}
	json.Unmarshal([]byte(out), &got)
	if got.SceneCount != 3 || len(got.Scenes) != 3 || !slices.Contains([]string{"red", "blue", "green"}, got.DominantColor) {
		t.Errorf("want 3 scenes and a seen colour: %s", out)
	}
}

// timestampsAsStrings replaces the API's {"type":"timestamp","format":…}
// with the JSON Schema of its rendering.
func timestampsAsStrings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "timestamp" {
			switch x["format"] {
			case "seconds":
				return map[string]any{"type": "number"}
			case "hh:mm:ss":
				return map[string]any{"type": "string", "pattern": clockSeconds.String()}
			default:
				return map[string]any{"type": "string", "pattern": clockMillis.String()}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = timestampsAsStrings(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = timestampsAsStrings(e)
		}
		return out
	}
	return v
}

// exampleSegments reads a time_based_metadata result with exactly the ids.
func exampleSegments(t *testing.T, out string, ids ...string) map[string][]map[string]any {
	t.Helper()
	var segs map[string][]map[string]any
	if err := json.Unmarshal([]byte(out), &segs); err != nil {
		t.Fatalf("output is not a segment map: %v\n%s", err, out)
	}
	var got []string
	for id := range segs {
		got = append(got, id)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Fatalf("segment ids %v, want %v:\n%s", got, want, out)
	}
	return segs
}

// clockTime reads "hh:mm:ss" or "hh:mm:ss.fff" as seconds.
func clockTime(t *testing.T, v any, re *regexp.Regexp) float64 {
	t.Helper()
	s, _ := v.(string)
	if !re.MatchString(s) {
		t.Errorf("time %v does not match %s", v, re)
		return 0
	}
	var h, m int
	var sec float64
	fmt.Sscanf(s, "%d:%d:%g", &h, &m, &sec)
	return float64(h*3600+m*60) + sec
}

func checkFields(t *testing.T, id string, md map[string]any, want map[string]func(any) bool) {
	t.Helper()
	for name, ok := range want {
		if v, has := md[name]; !has || !ok(v) {
			t.Errorf("%s: metadata field %s = %#v (present %v) has the wrong type or value", id, name, v, has)
		}
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }
func isNumber(v any) bool { _, ok := v.(float64); return ok }
func isBool(v any) bool   { _, ok := v.(bool); return ok }
func isInteger(v any) bool {
	f, ok := v.(float64)
	return ok && f == float64(int64(f))
}

func oneOf(values ...string) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && slices.Contains(values, s) }
}

func arrayOf(item func(any) bool) func(any) bool {
	return func(v any) bool {
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range a {
			if !item(e) {
				return false
			}
		}
		return true
	}
}

func matches(re *regexp.Regexp) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && re.MatchString(s) }
}

package task

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// This file holds the strict, level-by-level JSON reading used by
// DecodeCreate. Every object of the request is read into a
// map[string]json.RawMessage so that unknown keys, JSON null (treated as
// absent, spec §1) and wrong JSON types can each be reported with the dotted
// path of the offending parameter.

// jsonObject is one JSON object of the request body and its dotted path.
type jsonObject struct {
	path   string // "" for the body itself
	fields map[string]json.RawMessage
}

// parseCreateBody reads the request body, which must be one JSON object (V01).
func parseCreateBody(body []byte) (*jsonObject, *ValidationError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, Invalid("", "The request body is not valid JSON (%s at byte %d). Send a JSON object.", syn.Error(), syn.Offset)
		}
		if k := jsonKind(bytes.TrimSpace(body)); k != "an object" {
			return nil, Invalid("", "The request body must be a JSON object, but it is %s.", k)
		}
		return nil, Invalid("", "The request body is not valid JSON (%v). Send a JSON object.", err)
	}
	if fields == nil { // the body was the literal null
		return nil, Invalid("", "The request body must be a JSON object, but it is null.")
	}
	return &jsonObject{fields: fields}, nil
}

// newObject reads raw, the value of parameter path, as a JSON object.
func newObject(raw json.RawMessage, path string) (*jsonObject, *ValidationError) {
	if k := jsonKind(raw); k != "an object" {
		return nil, Invalid(path, "The %s parameter must be a JSON object, but %s was given.", path, k)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, Invalid(path, "The %s parameter is not a valid JSON object: %v.", path, err)
	}
	return &jsonObject{path: path, fields: fields}, nil
}

// param returns the dotted path of key inside o.
func (o *jsonObject) param(key string) string { return joinPath(o.path, key) }

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// allowOnly reports the first (in sorted order) key of o that is not one of
// keys as parameter_unknown.
func (o *jsonObject) allowOnly(keys ...string) *ValidationError {
	var unknown []string
	for k := range o.fields {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	p := o.param(unknown[0])
	where := "at the top level of the request"
	if o.path != "" {
		where = "in " + o.path
	}
	return &ValidationError{Status: 400, Code: "parameter_unknown", Param: p,
		Message: fmt.Sprintf("The %s parameter is not recognized. Remove it; the parameters allowed %s are: %s.", p, where, strings.Join(keys, ", "))}
}

// get returns the raw value of key; JSON null counts as absent.
func (o *jsonObject) get(key string) (json.RawMessage, bool) {
	raw, ok := o.fields[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func (o *jsonObject) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

// str reads an optional string parameter.
func (o *jsonObject) str(key string) (string, bool, *ValidationError) {
	raw, ok := o.get(key)
	if !ok {
		return "", false, nil
	}
	s, verr := asString(raw, o.param(key))
	return s, verr == nil, verr
}

// requiredStr reads a required string parameter that must not be blank.
func (o *jsonObject) requiredStr(key string) (string, *ValidationError) {
	s, ok, verr := o.str(key)
	if verr != nil {
		return "", verr
	}
	if !ok {
		return "", notProvided(o.param(key), "Add it as a non-empty string.")
	}
	if strings.TrimSpace(s) == "" {
		return "", Invalid(o.param(key), "The %s parameter must not be empty.", o.param(key))
	}
	return s, nil
}

// number reads an optional JSON number parameter.
func (o *jsonObject) number(key string) (float64, bool, *ValidationError) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	f, verr := asNumber(raw, o.param(key))
	return f, verr == nil, verr
}

// array reads an optional JSON array parameter.
func (o *jsonObject) array(key string) ([]json.RawMessage, bool, *ValidationError) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	p := o.param(key)
	if k := jsonKind(raw); k != "an array" {
		return nil, false, Invalid(p, "The %s parameter must be a JSON array, but %s was given.", p, k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, false, Invalid(p, "The %s parameter is not a valid JSON array: %v.", p, err)
	}
	return elems, true, nil
}

// object reads an optional JSON object parameter.
func (o *jsonObject) object(key string) (*jsonObject, bool, *ValidationError) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	child, verr := newObject(raw, o.param(key))
	return child, verr == nil, verr
}

func asString(raw json.RawMessage, path string) (string, *ValidationError) {
	if k := jsonKind(raw); k != "a string" {
		return "", Invalid(path, "The %s parameter must be a string, but %s was given.", path, k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", Invalid(path, "The %s parameter is not a valid JSON string: %v.", path, err)
	}
	return s, nil
}

func asNumber(raw json.RawMessage, path string) (float64, *ValidationError) {
	if k := jsonKind(raw); k != "a number" {
		return 0, Invalid(path, "The %s parameter must be a number, but %s was given.", path, k)
	}
	// raw is a valid JSON number, so the only possible error is range.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, Invalid(path, "The %s parameter %s is out of range.", path, raw)
	}
	return f, nil
}

// notProvided is Missing with a hint saying what to send.
func notProvided(param, hint string) *ValidationError {
	verr := Missing(param)
	verr.Message += " " + hint
	return verr
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// jsonKind names the JSON type of a valid JSON value, for messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// formatNumber prints a request number the way a client would write it.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// checkURL returns why s is not an absolute URL with a host whose scheme is
// one of schemes, or "" when it is.
func checkURL(s string, schemes ...string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL"
	}
	if u.Scheme == "" {
		return "is not an absolute URL (it has no scheme)"
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Sprintf("uses the scheme %q; only %s URLs are accepted", u.Scheme, strings.Join(schemes, " or "))
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "has no host"
	}
	return ""
}

// DecodeBase64 decodes the base64_string of a video or media source the way
// DecodeCreate validated it. It accepts the standard and the URL-safe
// alphabets, with or without "=" padding, and ignores line breaks. A data URL
// prefix such as "data:video/mp4;base64," or "data:image/png;base64," is
// accepted and stripped, because browsers' FileReader produces exactly that.
func DecodeBase64(s string) ([]byte, error) {
	enc, payload, err := base64Payload(s)
	if err != nil {
		return nil, err
	}
	return decodePayload(enc, payload)
}

// base64Payload strips a data URL prefix, line breaks and padding from s and
// picks the alphabet, so that the decoded size is len(payload)*3/4.
func base64Payload(s string) (*base64.Encoding, string, error) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "data:") {
		comma := strings.IndexByte(s, ',')
		if comma < 0 || !strings.HasSuffix(strings.ToLower(s[5:comma]), ";base64") {
			return nil, "", errors.New(`it starts with "data:" but is not a base64 data URL ("data:<type>;base64,<data>")`)
		}
		s = s[comma+1:]
	}
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, "", errors.New("it holds no data")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc, s, nil
}

func decodePayload(enc *base64.Encoding, payload string) ([]byte, error) {
	data, err := enc.DecodeString(payload)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("it is not valid base64 (bad data at character %d)", int64(ce))
		}
		return nil, errors.New("it is not valid base64")
	}
	return data, nil
}

// decodeBase64Param decodes the base64_string at path, enforcing the decoded
// size limit (V10, V17; the limit applies to decoded bytes, Q11).
func decodeBase64Param(s, path string, limit int) ([]byte, *ValidationError) {
	enc, payload, err := base64Payload(s)
	if err != nil {
		return nil, Invalid(path, "The %s parameter is not usable: %v. Send the file encoded as standard base64.", path, err)
	}
	if size := len(payload) / 4 * 3; size > limit { // a lower bound of the decoded size
		return nil, Invalid(path, "The %s parameter decodes to about %d bytes, more than the limit of %d bytes. Send a smaller file, or use a url or asset_id instead.", path, len(payload)*3/4, limit)
	}
	data, err := decodePayload(enc, payload)
	if err != nil {
		return nil, Invalid(path, "The %s parameter is not usable: %v. Send the file encoded as standard base64.", path, err)
	}
	if len(data) > limit {
		return nil, Invalid(path, "The %s parameter decodes to %d bytes, more than the limit of %d bytes. Send a smaller file, or use a url or asset_id instead.", path, len(data), limit)
	}
	return data, nil
}

package task

import (
	"encoding/base64"
	"io"
	"strings"
	"testing"
)

func TestFindInlineVideo(t *testing.T) {
	for body, want := range map[string]string{
		`{"video":{"type":"base64_string","base64_string":"QUJD"},"prompt":"p"}`:                                          "QUJD",
		` { "prompt" : "a \"video\" {" , "x":[1,{"video":2},true,null,-1.5e3], "video" : { "base64_string" : "QQ==" } } `: "QQ==",
		`{"video":{"base64_string":"data:video/mp4;base64,QUJD","type":"base64_string"}}`:                                 "data:video/mp4;base64,QUJD",
		// Not plainly shaped: the whole-body path decides.
		`{"video":{"base64_string":"QU\/D"}}`:                       "",
		`{"video":{"base64_string":"QUJD"},"video":{}}`:             "",
		`{"video":{"base64_string":"QUJD","base64_string":"QQ=="}}`: "",
		`{"vid\u0065o":{"base64_string":"QUJD"}}`:                   "",
		`{"video":{"base64_string":"QUJD"}} x`:                      "",
		`{"video":{"base64_string":"QUJD"}`:                         "",
		`{"video":{"base64_string":12}}`:                            "",
		`{"video":"QUJD"}`:                                          "",
		`["video"]`:                                                 "",
		`{"video":{"base64_string":"QUJD` + "\n" + `"}}`:            "",
		`{"prompt":"p"}`:                                            "",
	} {
		s, e, ok := findInlineVideo([]byte(body))
		got := ""
		if ok {
			got = body[s:e]
		}
		if got != want {
			t.Errorf("%s: found %q, want %q", body, got, want)
		}
	}
}

// inlinePayload accepts and refuses what decodeBase64Param does, with the
// same messages, and decodes to the same bytes.
func TestInlinePayloadMatchesDecode(t *testing.T) {
	raw := []byte("any carnal pleasure, and some more bytes \xff\xfe\x00")
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), "data:video/mp4;base64," + base64.StdEncoding.EncodeToString(raw),
		"DATA:x;BASE64,QUJD", "data:x,QUJD", "", "===", "QUJD!", "QU-D+", "QU+D-", "QUJDQ", "QU=D", "QUJ", "Q",
	} {
		want, werr := decodeBase64Param(s, "p", 1<<20)
		r, gerr := inlinePayload([]byte(s), "p", 1<<20)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Message != gerr.Message) {
			if werr == nil || gerr != nil || r == nil {
				t.Errorf("%q: error %v, want %v", s, gerr, werr)
				continue
			}
		}
		if gerr != nil {
			continue
		}
		got, err := io.ReadAll(r)
		if werr != nil {
			// Found only while decoding: the stream fails.
			if err == nil {
				t.Errorf("%q: decoded, want %v", s, werr)
			}
			continue
		}
		if err != nil || string(got) != string(want) {
			t.Errorf("%q: decoded %q (%v), want %q", s, got, err, want)
		}
	}
	if _, verr := inlinePayload([]byte(strings.Repeat("A", 2000)), "p", 1000); verr == nil || !strings.Contains(verr.Message, "more than the limit") {
		t.Errorf("over the limit: %v", verr)
	}
}

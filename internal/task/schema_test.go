package task

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateJSONSchema(t *testing.T) {
	t.Parallel()
	const base = "response_format.json_schema"
	// deep is nested exactly maxSchemaDepth levels.
	deep := strings.Repeat(`{"type":"array","items":`, 31) + `{"type":"string"}` + strings.Repeat(`}`, 31)
	wide := `{"type":"object","properties":{` + repeat(`"p%d":{"type":"string"}`, 10000, ",") + `}}`
	cases := []struct {
		name   string
		schema string
		model  string
		want   *wantErr // nil: accepted
	}{
		// accepted (V43)
		{"empty schema", `{}`, Pegasus15, nil},
		{"every keyword", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","title":"t","description":"d","$comment":"c",
			"type":"object","required":["n","s","a","e","c","r","any","f"],
			"$defs":{"item":{"type":"object","properties":{"v":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":10}}}},
			"properties":{
				"n":{"type":"integer","minimum":0,"maximum":100,"default":5,"examples":[1,2]},
				"s":{"type":"string","pattern":"^[a-z]+$","format":"uuid","deprecated":false,"readOnly":true,"writeOnly":false},
				"a":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1},
				"e":{"enum":["x",1,true,null]},
				"c":{"const":"fixed"},
				"r":{"$ref":"#/$defs/item"},
				"any":{"anyOf":[{"type":"string","format":"date-time"},{"type":"null"}]},
				"f":{"type":["number","null"]},
				"d":{"type":"string","format":"date"},
				"tm":{"type":"string","format":"time"},
				"ts":{"type":"timestamp","format":"hh:mm:ss.fff"},
				"list":{"type":"array","minItems":0,"items":{"type":"object","properties":{"at":{"type":"timestamp","format":"seconds"},"start_time":{"type":"timestamp","format":"hh:mm:ss"}}}},
				"start_time":{"type":"integer"},
				"end_time":{"type":["number","string"]}
			}}`, Pegasus15, nil},
		{"minItems 1.0", `{"type":"array","items":{},"minItems":1.0}`, Pegasus15, nil},
		{"$ref with escapes", `{"$defs":{"a/b":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a~1b"}}}`, Pegasus12, nil},
		{"recursive $defs", `{"$defs":{"node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`, Pegasus12, nil},
		{"depth 32 allowed", deep, Pegasus12, nil},

		// refused keywords (V43, V44)
		{"minLength", `{"type":"string","minLength":1}`, Pegasus15, &wantErr{422, "json_schema_unsupported", base + ".minLength", ""}},
		{"maxItems", `{"type":"array","maxItems":3}`, Pegasus15, &wantErr{422, "json_schema_unsupported", base + ".maxItems", ""}},
		{"uniqueItems deep", `{"properties":{"a":{"items":{"uniqueItems":true}}}}`, Pegasus15, &wantErr{422, "json_schema_unsupported", base + ".properties.a.items.uniqueItems", ""}},
		{"allOf", `{"allOf":[{}]}`, Pegasus15, ptr(invalid(base + ".allOf"))},
		{"not", `{"not":{}}`, Pegasus15, ptr(invalid(base + ".not"))},
		{"if", `{"if":{},"then":{}}`, Pegasus15, ptr(invalid(base + ".if"))},
		{"multipleOf", `{"type":"integer","multipleOf":2}`, Pegasus15, ptr(invalid(base + ".multipleOf"))},
		{"prefixItems", `{"type":"array","prefixItems":[{}]}`, Pegasus15, ptr(invalid(base + ".prefixItems"))},

		// structure
		{"root not object", `[]`, Pegasus15, ptr(invalid(base))},
		{"invalid UTF-8", "{\"title\":\"\xff\"}", Pegasus15, ptr(invalid(base))},
		{"trailing value", `{} {}`, Pegasus15, ptr(invalid(base))},
		{"boolean subschema", `{"properties":{"a":true}}`, Pegasus15, ptr(invalid(base + ".properties.a"))},
		{"properties not object", `{"properties":[]}`, Pegasus15, ptr(invalid(base + ".properties"))},
		{"items array", `{"type":"array","items":[{"type":"string"}]}`, Pegasus15, ptr(invalid(base + ".items"))},
		{"items on string", `{"type":"string","items":{}}`, Pegasus15, ptr(invalid(base + ".items"))},
		{"properties on array", `{"type":"array","properties":{}}`, Pegasus15, ptr(invalid(base + ".properties"))},
		{"anyOf empty", `{"anyOf":[]}`, Pegasus15, ptr(invalid(base + ".anyOf"))},
		{"too deep", `{"items":` + deep + `}`, Pegasus15, ptr(invalid(base + strings.Repeat(".items", 32)))},
		{"too many nodes", wide, Pegasus15, ptr(invalid(base))},

		// type
		{"unknown type", `{"type":"date"}`, Pegasus15, ptr(invalid(base + ".type"))},
		{"type number value", `{"type":1}`, Pegasus15, ptr(invalid(base + ".type"))},
		{"type empty list", `{"type":[]}`, Pegasus15, ptr(invalid(base + ".type"))},
		{"type duplicate", `{"type":["string","string"]}`, Pegasus15, ptr(invalid(base + ".type"))},
		{"timestamp in list", `{"properties":{"t":{"type":["timestamp","null"],"format":"seconds"}}}`, Pegasus15, ptr(invalid(base + ".properties.t.type"))},
		{"timestamp on 1.2", `{"properties":{"t":{"type":"timestamp","format":"seconds"}}}`, Pegasus12, ptr(invalid(base + ".properties.t.type"))},

		// required
		{"required undeclared", `{"type":"object","properties":{"a":{}},"required":["a","b"]}`, Pegasus15, ptr(invalid(base + ".required[1]"))},
		{"required without properties", `{"required":["a"]}`, Pegasus15, ptr(invalid(base + ".required[0]"))},
		{"required duplicate", `{"properties":{"a":{}},"required":["a","a"]}`, Pegasus15, ptr(invalid(base + ".required[1]"))},
		{"required not strings", `{"properties":{"a":{}},"required":[1]}`, Pegasus15, ptr(invalid(base + ".required[0]"))},

		// numbers and strings
		{"minItems 2", `{"type":"array","minItems":2}`, Pegasus15, ptr(invalid(base + ".minItems"))},
		{"minItems string", `{"type":"array","minItems":"1"}`, Pegasus15, ptr(invalid(base + ".minItems"))},
		{"minimum on string", `{"type":"string","minimum":1}`, Pegasus15, ptr(invalid(base + ".minimum"))},
		{"exclusiveMinimum boolean", `{"type":"number","exclusiveMinimum":true}`, Pegasus15, ptr(invalid(base + ".exclusiveMinimum"))},
		{"minimum above maximum", `{"type":"number","minimum":5,"maximum":1}`, Pegasus15, ptr(invalid(base + ".minimum"))},
		{"maximum out of range", `{"type":"number","maximum":1e999}`, Pegasus15, ptr(invalid(base + ".maximum"))},
		{"pattern lookahead", `{"type":"string","pattern":"^(?=a)"}`, Pegasus15, ptr(withText(invalid(base+".pattern"), "RE2 syntax"))},
		{"pattern on integer", `{"type":"integer","pattern":"a"}`, Pegasus15, ptr(invalid(base + ".pattern"))},
		{"pattern not string", `{"type":"string","pattern":1}`, Pegasus15, ptr(invalid(base + ".pattern"))},
		{"string format email", `{"type":"string","format":"email"}`, Pegasus15, ptr(invalid(base + ".format"))},
		{"format without type", `{"format":"date"}`, Pegasus15, ptr(invalid(base + ".format"))},
		{"format on integer", `{"type":"integer","format":"int32"}`, Pegasus15, ptr(invalid(base + ".format"))},
		{"format not string", `{"type":"string","format":1}`, Pegasus15, ptr(invalid(base + ".format"))},
		{"const object", `{"const":{"a":1}}`, Pegasus15, ptr(invalid(base + ".const"))},
		{"enum empty", `{"enum":[]}`, Pegasus15, ptr(invalid(base + ".enum"))},
		{"enum array value", `{"enum":["a",[1]]}`, Pegasus15, ptr(invalid(base + ".enum[1]"))},

		// $defs and $ref
		{"$ref external", `{"$ref":"https://example.com/s.json"}`, Pegasus15, ptr(invalid(base + ".$ref"))},
		{"$ref root", `{"properties":{"a":{"$ref":"#"}}}`, Pegasus15, ptr(invalid(base + ".properties.a.$ref"))},
		{"$ref unresolved", `{"$defs":{"a":{}},"properties":{"b":{"$ref":"#/$defs/b"}}}`, Pegasus15, ptr(withText(invalid(base+".properties.b.$ref"), "does not resolve"))},
		{"$ref nested path", `{"$defs":{"a":{}},"$ref":"#/$defs/a/properties"}`, Pegasus15, ptr(invalid(base + ".$ref"))},
		{"$ref not string", `{"$ref":1}`, Pegasus15, ptr(invalid(base + ".$ref"))},
		{"$defs nested", `{"properties":{"a":{"$defs":{}}}}`, Pegasus15, ptr(invalid(base + ".properties.a.$defs"))},
		{"$defs not object", `{"$defs":[]}`, Pegasus15, ptr(invalid(base + ".$defs"))},
		{"bad schema in $defs", `{"$defs":{"a":{"oneOf":[]}}}`, Pegasus15, ptr(invalid(base + ".$defs.a.oneOf"))},

		// V45 timestamp placement
		{"timestamp at root", `{"type":"timestamp","format":"seconds"}`, Pegasus15, ptr(invalid(base + ".type"))},
		{"timestamp without format", `{"properties":{"t":{"type":"timestamp"}}}`, Pegasus15, ptr(invalid(base + ".properties.t.format"))},
		{"timestamp bad format", `{"properties":{"t":{"type":"timestamp","format":"date"}}}`, Pegasus15, ptr(invalid(base + ".properties.t.format"))},
		{"timestamp nested object", `{"properties":{"o":{"type":"object","properties":{"t":{"type":"timestamp","format":"seconds"}}}}}`, Pegasus15, ptr(invalid(base + ".properties.o.properties.t.type"))},
		{"timestamp array item", `{"properties":{"a":{"type":"array","items":{"type":"timestamp","format":"seconds"}}}}`, Pegasus15, ptr(invalid(base + ".properties.a.items.type"))},
		{"timestamp too deep", `{"properties":{"a":{"items":{"properties":{"b":{"items":{"properties":{"t":{"type":"timestamp","format":"seconds"}}}}}}}}}`, Pegasus15, ptr(invalid(base + ".properties.a.items.properties.b.items.properties.t.type"))},
		{"timestamp via $ref", `{"$defs":{"t":{"type":"timestamp","format":"seconds"}},"properties":{"at":{"$ref":"#/$defs/t"}}}`, Pegasus15, ptr(invalid(base + ".$defs.t.type"))},

		// V46 start_time / end_time
		{"start_time string", `{"properties":{"start_time":{"type":"string"}}}`, Pegasus15, nil},
		{"start_time untyped", `{"properties":{"start_time":{"description":"x"}}}`, Pegasus15, ptr(invalid(base + ".properties.start_time"))},
		{"start_time null", `{"properties":{"start_time":{"type":["number","null"]}}}`, Pegasus15, ptr(invalid(base + ".properties.start_time"))},
		{"end_time object", `{"properties":{"end_time":{"type":"object"}}}`, Pegasus15, ptr(invalid(base + ".properties.end_time"))},
		{"end_time array deep", `{"properties":{"a":{"type":"object","properties":{"end_time":{"type":"array"}}}}}`, Pegasus15, ptr(invalid(base + ".properties.a.properties.end_time"))},
		{"start_time in $defs", `{"$defs":{"x":{"properties":{"start_time":{"type":"boolean"}}}}}`, Pegasus15, ptr(invalid(base + ".$defs.x.properties.start_time"))},
		{"start_time string date-time", `{"properties":{"start_time":{"type":"string","format":"date-time"}}}`, Pegasus15, ptr(invalid(base + ".properties.start_time"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateJSONSchema([]byte(tc.schema), tc.model)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want %+v", err, *tc.want)
			}
			if ve.Status != tc.want.status || ve.Code != tc.want.code || ve.Param != tc.want.param {
				t.Errorf("got %d %s %q (%s)\nwant %d %s %q", ve.Status, ve.Code, ve.Param, ve.Message, tc.want.status, tc.want.code, tc.want.param)
			}
			if !strings.Contains(ve.Message, tc.want.msg) || !strings.Contains(ve.Message, "json_schema") && !strings.Contains(ve.Message, "JSON schema") {
				t.Errorf("message %q lacks %q or the parameter", ve.Message, tc.want.msg)
			}
		})
	}
}

func FuzzValidateJSONSchema(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		`{"$defs":{"n":{"properties":{"k":{"items":{"$ref":"#/$defs/n"}}}}},"$ref":"#/$defs/n"}`,
		`{"properties":{"t":{"type":"timestamp","format":"seconds"},"l":{"type":"array","items":{"properties":{"u":{"type":"timestamp","format":"hh:mm:ss"}}}}}}`,
		`{"anyOf":[{"type":["string","null"],"pattern":"^a"},{"enum":[1,"a",null]}],"minItems":1}`,
		`{"type":"number","minimum":1,"maximum":0}`, `{"additionalProperties":false}`, `[`, `{"properties":{"start_time":{"type":"string","format":"uuid"}}}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, schema []byte, p15 bool) {
		model := Pegasus12
		if p15 {
			model = Pegasus15
		}
		err := ValidateJSONSchema(schema, model)
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T %v", err, err)
		}
		if (ve.Status != 400 || ve.Code != "parameter_invalid") && (ve.Status != 422 || ve.Code != "json_schema_unsupported") {
			t.Fatalf("status %d code %s", ve.Status, ve.Code)
		}
		if ve.Message == "" || !strings.HasPrefix(ve.Param, "response_format.json_schema") {
			t.Fatalf("param %q message %q", ve.Param, ve.Message)
		}
	})
}

package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// decodeJSON reads a request body into v, a pointer to a request type,
// as openapi.yaml describes the body: one JSON object, field names
// spelled exactly (encoding/json would take "COUNT" for "count"), no
// null (encoding/json reads it as the field left out), no unknown field,
// every value of its field's JSON type, every integer within 64 bits,
// nothing after the object.
//
// The body is walked token by token first (checkJSON), because the walk
// knows where it is: each refusal names the field as the client wrote
// it, with list positions ("holders[1].id_number"), and the JSON type it
// wants, where encoding/json's errors name Go's embedded structs and
// types and drop list positions. Only a body the walk passed is decoded.
func decodeJSON(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "INVALID_JSON", "the body is empty; want a JSON object")
	}
	if aerr := checkJSON(body, reflect.TypeOf(v).Elem()); aerr != nil {
		return aerr
	}
	if err := json.Unmarshal(body, v); err != nil {
		// checkJSON passes only what decodes: a bug.
		return &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "a body checkJSON passed did not decode: " + err.Error()}
	}
	return nil
}

// jsonFrame is an object or list being walked.
type jsonFrame struct {
	t      reflect.Type // a struct, or a slice
	object bool
	path   string              // where it is, "" for the body
	ranges string              // a list's range tag, for its items
	keyed  bool                // an object's key was read, its value is next
	field  reflect.StructField // the field an object's last key names
	seen   []string            // an object's keys so far (a handful: the request types' fields)
	n      int                 // a list's items so far
}

// checkJSON walks a body against root, the struct type it decodes into,
// and returns the first thing openapi.yaml refuses, named by its path.
func checkJSON(body []byte, root reflect.Type) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*jsonFrame
	// Read tokens until the body's value is closed.
	for first := true; first || len(stack) > 0; first = false {
		tok, err := dec.Token()
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			return errorf(http.StatusBadRequest, "INVALID_JSON", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err))
		case err != nil:
			return errorf(http.StatusBadRequest, "INVALID_JSON", "malformed JSON: it ends too soon")
		}
		top := len(stack) - 1
		switch {
		case top >= 0 && stack[top].object && !stack[top].keyed && tok != json.Delim('}'):
			f, name := stack[top], tok.(string)
			if f.field, err = knownField(f.t, name); err != nil {
				// Said of the object, which has no such field; the
				// field is the key as the client wrote it.
				e := errorf(http.StatusBadRequest, "INVALID_JSON", err.Error()).with("field", joinPath(f.path, name))
				if f.path != "" {
					e.Message = f.path + ": " + e.Message
				}
				return e
			}
			// A key given twice is refused: which value was meant is a
			// guess, and a decoder that keeps the last one would make two
			// bodies one request (RFC 8259 section 4 leaves it open).
			if slices.Contains(f.seen, name) {
				return errorf(http.StatusBadRequest, "INVALID_JSON", joinPath(f.path, name)+": given more than once").
					with("field", joinPath(f.path, name))
			}
			f.seen = append(f.seen, name)
			f.keyed = true
			continue
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:top]
		default:
			t, path, ranges := nextValue(stack, root)
			if aerr := checkValue(tok, t, path, ranges); aerr != nil {
				return aerr
			}
			if d, ok := tok.(json.Delim); ok {
				stack = append(stack, &jsonFrame{t: t, object: d == '{', path: path, ranges: ranges})
			}
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "INVALID_JSON", fmt.Sprintf("data after the JSON object, at byte %d", dec.InputOffset()))
	}
	return nil
}

// nextValue says what the value about to be read must be: its type
// (pointers taken off), its path, and its range tag.
func nextValue(stack []*jsonFrame, root reflect.Type) (reflect.Type, string, string) {
	if len(stack) == 0 {
		return root, "", ""
	}
	f := stack[len(stack)-1]
	if f.object {
		f.keyed = false
		return deref(f.field.Type), joinPath(f.path, jsonName(f.field)), f.field.Tag.Get("range")
	}
	f.n++
	return deref(f.t.Elem()), fmt.Sprintf("%s[%d]", f.path, f.n-1), f.ranges
}

// checkValue checks the first token of a value against the type t it
// decodes into.
func checkValue(tok json.Token, t reflect.Type, path, ranges string) *apiError {
	var got string
	switch tok := tok.(type) {
	case nil:
		if path == "" {
			return jsonError(path, "want an object, got null")
		}
		return jsonError(path, "null is not a value: leave the field out")
	case json.Delim:
		if tok == '{' && t.Kind() == reflect.Struct || tok == '[' && t.Kind() == reflect.Slice {
			return nil
		}
		got = map[json.Delim]string{'{': "an object", '[': "a list"}[tok]
	case string:
		if t.Kind() == reflect.String {
			return nil
		}
		got = "a string"
	case bool:
		if t.Kind() == reflect.Bool {
			return nil
		}
		got = strconv.FormatBool(tok)
	case json.Number:
		if t.Kind() != reflect.Int64 {
			got = "a number"
			break
		}
		if strings.ContainsAny(string(tok), ".eE") {
			return jsonError(path, "want an integer, got %s", tok)
		}
		if _, err := strconv.ParseInt(string(tok), 10, 64); err != nil {
			return jsonError(path, "%s is out of range: want %s", tok, describeRanges(ranges))
		}
		return nil
	}
	return jsonError(path, "want %s, got %s", jsonType(t), got)
}

// knownField finds the field of struct t that an object's key names,
// spelled exactly as its JSON name.
func knownField(t reflect.Type, name string) (reflect.StructField, error) {
	if sf, ok := jsonField(t, name); ok {
		return sf, nil
	}
	for _, known := range jsonNames(t) {
		if strings.EqualFold(known, name) {
			return reflect.StructField{}, fmt.Errorf("unknown field %q: names are exact, this one is %q", name, known)
		}
	}
	return reflect.StructField{}, fmt.Errorf("unknown field %q", name)
}

// jsonError refuses a body at path with 400 INVALID_JSON, naming the
// field in the message and in details.field; at the body itself, path
// is "" and the message says "the body".
func jsonError(path, format string, args ...any) *apiError {
	if path == "" {
		return errorf(http.StatusBadRequest, "INVALID_JSON", "the body: "+fmt.Sprintf(format, args...))
	}
	return invalid("INVALID_JSON", path, format, args...).status(http.StatusBadRequest)
}

// joinPath names a field of the object at path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// deref takes the pointers off t: a field left out is a nil pointer, one
// given is read as the type pointed to.
func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// jsonField finds the struct field named name in JSON. As in
// encoding/json, a field of t itself wins over one of an embedded
// struct (programIn's id over programFields' id).
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); jsonName(f) == name && name != "" {
			return f, true
		}
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && jsonName(f) == "" {
			if sub, ok := jsonField(f.Type, name); ok {
				return sub, true
			}
		}
	}
	return reflect.StructField{}, false
}

// jsonNames lists the JSON names of t's fields, its embedded structs'
// included.
func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && jsonName(f) == "" {
			names = append(names, jsonNames(f.Type)...)
		} else if name := jsonName(f); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// jsonType names the JSON a Go type reads.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.Slice:
		switch item := jsonType(t.Elem()); item {
		case "a string", "an integer", "an object":
			return "a list of " + strings.TrimPrefix(strings.TrimPrefix(item, "a "), "an ") + "s"
		default:
			return "a list"
		}
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct:
		return "an object"
	}
	return "an integer" // every number the API reads is an integer
}

// intRange is one span of the values an integer field takes.
type intRange struct{ lo, hi int64 }

// parseRanges reads a range tag: spans lo..hi, or single values, joined
// by |. No tag is any 64-bit integer.
func parseRanges(tag string) []intRange {
	if tag == "" {
		return []intRange{{math.MinInt64, math.MaxInt64}}
	}
	var out []intRange
	for span := range strings.SplitSeq(tag, "|") {
		lo, hi, found := strings.Cut(span, "..")
		if !found {
			hi = lo
		}
		l, err1 := strconv.ParseInt(lo, 10, 64)
		h, err2 := strconv.ParseInt(hi, 10, 64)
		if err1 != nil || err2 != nil {
			panic("gateway: malformed range tag " + strconv.Quote(tag))
		}
		out = append(out, intRange{l, h})
	}
	return out
}

// describeRanges says what a range tag allows: "an integer from 1 to
// 64", "0, or an integer from 10 to 86400".
func describeRanges(tag string) string {
	var alts []string
	for _, r := range parseRanges(tag) {
		if r.lo == r.hi {
			alts = append(alts, strconv.FormatInt(r.lo, 10))
		} else {
			alts = append(alts, fmt.Sprintf("an integer from %d to %d", r.lo, r.hi))
		}
	}
	return strings.Join(alts, ", or ")
}

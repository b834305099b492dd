package gateway

import (
	"net/http"
	"testing"
)

// FuzzDecodeJSON: checkJSON passes only bodies that decode, so
// decodeJSON takes a body or refuses it with a 400, whatever the body,
// and never answers the 500 it keeps for a checked body that did not
// decode.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"count":2}`, `{"seats":["A/1/1",5]}`, `{"holders":[{"name":"a","id_number":"x","id_type":"passport"}]}`,
		`{"count":99999999999999999999}`, `{"COUNT":1}`, `{"count":1} {}`, `[]`, `null`, `{"count":1.5}`,
		`{"id":"p","categories":[{"id":"a","price_cents":1}],"grid":{"sections":1,"rows":1,"cols":1,"categories":[{"id":"a","rows":[1,1]}]}}`,
		`{"layout":{"sections":[{"id":"A","rows":[{"id":"1","rank":-3,"seats":[{"col":1,"category":"a","accessible":true}]}]}]}}`,
		`{"seats":["A/1/1"],"from":0,"to":1,"unblock":false}`, `{"a":{"b":[1,{"c":null}]}}`, `{"count":1`, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&holdIn{}, &blockIn{}, &programIn{}} {
			aerr := decodeJSON(body, v)
			if aerr != nil && (aerr.Status != http.StatusBadRequest || aerr.Code != "INVALID_JSON") {
				t.Fatalf("decodeJSON(%q, %T) = %+v; want nil or 400 INVALID_JSON", body, v, aerr)
			}
		}
	})
}

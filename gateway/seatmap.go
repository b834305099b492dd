package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// versioned answers from the answer cache, honouring If-None-Match: the
// ETag is the applied index the answer was read at. fetch reads seatd for
// a key and returns the answer's status and a body to render under the
// head every versioned answer starts with.
func (g *Gateway) versioned(ctx context.Context, c *app.RequestContext, kind string,
	fetch func(k answerKey) (*rpc.Status, func(versionHead) any, error)) *apiError {
	program, category := c.Param("id"), c.Query("category")
	from, to, aerr := g.queryRange(ctx, c, program)
	if aerr != nil {
		return aerr
	}
	k := answerKey{kind: kind, program: program, category: category, from: from, to: to}
	b, version, rendered, aerr := g.maps.get(k, g.cfg.Clock(), func() (int64, func() []byte, *apiError) {
		st, body, err := fetch(k)
		if err != nil {
			return 0, nil, callError(err)
		}
		if aerr := statusError(st); aerr != nil {
			return 0, nil, aerr
		}
		v := st.AppliedIndex
		return v, func() []byte {
			b, err := json.Marshal(body(versionHead{program, strconv.FormatInt(v, 10), from, to}))
			if err != nil {
				panic(fmt.Sprintf("gateway: encode a %s answer: %v", kind, err)) // every answer type encodes
			}
			return b
		}, nil
	})
	if aerr != nil {
		return aerr
	}
	g.metrics.answers.WithLabelValues(kind, strconv.FormatBool(rendered)).Inc()
	etag := `"` + strconv.FormatInt(version, 10) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if string(c.GetHeader("If-None-Match")) == etag {
		c.SetStatusCode(http.StatusNotModified)
		return nil
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
	return nil
}

// versionHead starts every versioned answer: what it is about, and the
// applied index it was read at.
type versionHead struct {
	ProgramID string `json:"program_id"`
	Version   string `json:"version"`
	From      int32  `json:"from"`
	To        int32  `json:"to"`
}

type seatStateJSON struct {
	ID       string `json:"id"`
	Section  string `json:"section"`
	Row      string `json:"row"`
	Col      int32  `json:"col"`
	Label    string `json:"label"`
	Category string `json:"category"`
	Status   string `json:"status"`
}

func (g *Gateway) seatMap(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	return g.versioned(ctx, c, "seats", func(k answerKey) (*rpc.Status, func(versionHead) any, error) {
		resp, err := g.inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: k.program, FromLeg: k.from, ToLeg: k.to})
		if err != nil || resp.Status.Route != rpc.Route_OK || resp.Status.Code != 0 {
			if resp == nil {
				return nil, nil, err
			}
			return resp.Status, nil, err
		}
		p, err := g.inv.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: k.program})
		if err != nil || p.Status.Route != rpc.Route_OK || p.Status.Code != 0 {
			if p == nil {
				return nil, nil, err
			}
			return p.Status, nil, err
		}
		return resp.Status, func(h versionHead) any {
			out := struct {
				versionHead
				Seats []seatStateJSON `json:"seats"`
			}{h, []seatStateJSON{}}
			i := 0
			for _, sec := range p.Spec.Sections {
				for _, row := range sec.Rows {
					for _, st := range row.Seats {
						if i < len(resp.Statuses) && (k.category == "" || st.Category == k.category) {
							label := st.Label
							if label == "" {
								label = strconv.Itoa(int(st.Col))
							}
							out.Seats = append(out.Seats, seatStateJSON{sec.Id + "/" + row.Id + "/" + strconv.Itoa(int(st.Col)),
								sec.Id, row.Id, st.Col, label, st.Category, seatStatusNames[resp.Statuses[i]&3]})
						}
						i++
					}
				}
			}
			return out
		}, nil
	})
}

var seatStatusNames = [4]string{"free", "held", "sold", "blocked"}

type categoryCountJSON struct {
	ID       string `json:"id"`
	Capacity int32  `json:"capacity"`
	Free     int32  `json:"free"`
	Held     int32  `json:"held"`
	Sold     int32  `json:"sold"`
	Blocked  int32  `json:"blocked"`
}

func (g *Gateway) availability(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	return g.versioned(ctx, c, "availability", func(k answerKey) (*rpc.Status, func(versionHead) any, error) {
		resp, err := g.inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: k.program, FromLeg: k.from, ToLeg: k.to})
		if err != nil {
			return nil, nil, err
		}
		return resp.Status, func(h versionHead) any {
			out := struct {
				versionHead
				Categories []categoryCountJSON `json:"categories"`
			}{h, make([]categoryCountJSON, len(resp.Categories))}
			for i, cc := range resp.Categories {
				out.Categories[i] = categoryCountJSON{cc.Id, cc.Capacity, cc.Free, cc.Held, cc.Sold, cc.Blocked}
			}
			return out
		}, nil
	})
}

package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cloudwego/hertz/pkg/app"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// resolveTo turns a query's "to" of 0 (the last stop) into the stop
// index, so that answers say which range they are about.
func (g *Gateway) resolveTo(ctx context.Context, program string, to int32) (int32, *apiError) {
	if to != 0 {
		return to, nil
	}
	if n, ok := g.stops.get(program); ok {
		return n - 1, nil
	}
	p, err := g.inv.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: program})
	if err != nil {
		return 0, callError(err)
	}
	if aerr := statusError(p.Status); aerr != nil {
		return 0, aerr
	}
	n := int32(len(p.Spec.Stops))
	if n < 2 {
		n = 2 // a program without stops has doors and end
	}
	g.stops.put(program, n)
	return n - 1, nil
}

// versioned answers from the answer cache, honouring If-None-Match: the
// ETag is the applied index the answer was read at.
func (g *Gateway) versioned(ctx context.Context, c *app.RequestContext, kind string,
	fetch func(program, category string, from, to int32) (int64, func() ([]byte, *apiError), *apiError)) *apiError {
	from, to, aerr := legRange(c)
	if aerr != nil {
		return aerr
	}
	program, category := c.Param("id"), c.Query("category")
	if to, aerr = g.resolveTo(ctx, program, to); aerr != nil {
		return aerr
	}
	if to <= from {
		return errorf(http.StatusUnprocessableEntity, "INVALID_ARGUMENT", "from: want a stop index before the last stop")
	}
	k := answerKey{kind: kind, program: program, category: category, from: from, to: to}
	b, version, rendered, aerr := g.maps.get(k, g.cfg.Clock(), func() (int64, func() ([]byte, *apiError), *apiError) {
		return fetch(program, category, from, to)
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
	return g.versioned(ctx, c, "seats", func(program, category string, from, to int32) (int64, func() ([]byte, *apiError), *apiError) {
		resp, err := g.inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: program, Category: category, FromLeg: from, ToLeg: to})
		if err != nil {
			return 0, nil, callError(err)
		}
		if aerr := statusError(resp.Status); aerr != nil {
			return 0, nil, aerr
		}
		version := resp.Status.AppliedIndex
		return version, func() ([]byte, *apiError) {
			out := struct {
				versionHead
				Seats []seatStateJSON `json:"seats"`
			}{versionHead{program, strconv.FormatInt(version, 10), from, to}, make([]seatStateJSON, len(resp.Seats))}
			for i, s := range resp.Seats {
				out.Seats[i] = seatStateJSON{s.Id, s.Section, s.Row, s.Col, s.Label, s.Category, s.Status}
			}
			b, _ := json.Marshal(out)
			return b, nil
		}, nil
	})
}

type categoryCountJSON struct {
	ID       string `json:"id"`
	Capacity int32  `json:"capacity"`
	Free     int32  `json:"free"`
	Held     int32  `json:"held"`
	Sold     int32  `json:"sold"`
	Blocked  int32  `json:"blocked"`
}

func (g *Gateway) availability(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	return g.versioned(ctx, c, "availability", func(program, _ string, from, to int32) (int64, func() ([]byte, *apiError), *apiError) {
		resp, err := g.inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: program, FromLeg: from, ToLeg: to})
		if err != nil {
			return 0, nil, callError(err)
		}
		if aerr := statusError(resp.Status); aerr != nil {
			return 0, nil, aerr
		}
		version := resp.Status.AppliedIndex
		return version, func() ([]byte, *apiError) {
			out := struct {
				versionHead
				Categories []categoryCountJSON `json:"categories"`
			}{versionHead{program, strconv.FormatInt(version, 10), from, to}, make([]categoryCountJSON, len(resp.Categories))}
			for i, cc := range resp.Categories {
				out.Categories[i] = categoryCountJSON{cc.Id, cc.Capacity, cc.Free, cc.Held, cc.Sold, cc.Blocked}
			}
			b, _ := json.Marshal(out)
			return b, nil
		}, nil
	})
}

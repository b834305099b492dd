package seatclient

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// leadersOf builds a Leadership of groups led as named (index = group).
func leadersOf(leaders []string, voters, drained []string) *Leadership {
	l := &Leadership{Voters: voters, Drained: drained, Members: voters}
	for g, id := range leaders {
		l.Groups = append(l.Groups, GroupLeader{Group: int32(g), Leader: id, Term: 1})
	}
	return l
}

// apply returns the leaders after moves, checking that each starts at the
// group's leader.
func apply(t *testing.T, l *Leadership, moves []Move) []string {
	t.Helper()
	var out []string
	for _, g := range l.Groups {
		out = append(out, g.Leader)
	}
	for _, m := range moves {
		if out[m.Group] != m.From {
			t.Fatalf("move %v: group %d is led by %s", m, m.Group, out[m.Group])
		}
		out[m.Group] = m.To
	}
	return out
}

// TestPlan: a plan leaves no group on a drained node or a non-voter and
// every undrained voter between floor and ceil of groups / undrained
// voters, with the fewest moves, and
// is empty for a balanced cluster; no leader or no undrained voter is an
// error.
func TestPlan(t *testing.T) {
	v3 := []string{"n1", "n2", "n3"}
	for _, tc := range []struct {
		leaders, voters, drained []string
		moves                    int
	}{
		{[]string{"n1", "n2", "n3"}, v3, nil, 0},
		{[]string{"n1", "n1", "n1", "n1", "n1", "n1", "n1", "n1", "n1"}, v3, nil, 6},
		{[]string{"n1", "n1", "n2", "n2", "n2", "n3", "n3", "n3", "n3"}, v3, nil, 1},
		{[]string{"n1", "n2", "n3", "n1", "n2", "n3", "n1", "n2", "n3"}, v3, []string{"n1"}, 3},
		{[]string{"n2", "n2", "n2", "n2", "n2", "n3", "n3", "n3", "n3"}, v3, nil, 3},                               // undrained n1 gets its share
		{[]string{"n1", "n2", "gone"}, []string{"n1", "n2"}, nil, 1},                                               // a removed node's group
		{[]string{"n1", "n2", "n3", "n4", "n1", "n2", "n3"}, []string{"n1", "n2", "n3", "n4"}, nil, 0},             // 7 groups, share 2
		{[]string{"n1", "n2", "n3", "n1", "n2", "n3", "n1", "n2", "n3"}, []string{"n1", "n2", "n3", "n4"}, nil, 2}, // a new node
	} {
		t.Run(fmt.Sprint(tc.leaders, tc.drained), func(t *testing.T) {
			l := leadersOf(tc.leaders, tc.voters, tc.drained)
			moves, err := l.Plan()
			if err != nil || len(moves) != tc.moves {
				t.Fatalf("Plan() = %v, %v; want %d moves", moves, err, tc.moves)
			}
			after := leadersOf(apply(t, l, moves), tc.voters, tc.drained)
			share, floor := l.Share(), len(tc.leaders)/(len(tc.voters)-len(tc.drained))
			for id, n := range after.Led() {
				if !slices.Contains(tc.voters, id) || slices.Contains(tc.drained, id) {
					if n != 0 {
						t.Fatalf("after %v: %s leads %d groups; want none", moves, id, n)
					}
				} else if n > share || n < floor {
					t.Fatalf("after %v: %s leads %d groups; want %d-%d", moves, id, n, floor, share)
				}
			}
			if again, _ := after.Plan(); len(again) != 0 {
				t.Fatalf("Plan() after the plan = %v; want nothing", again)
			}
		})
	}
	if _, err := leadersOf([]string{"n1", ""}, v3, nil).Plan(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Plan(a group without leader) = %v; want ErrUnavailable", err)
	}
	if _, err := leadersOf([]string{"n1"}, []string{"n1"}, []string{"n1"}).Plan(); !errors.Is(err, ErrRefused) {
		t.Fatalf("Plan(every voter drained) = %v; want ErrRefused", err)
	}
	if err := leadersOf(nil, v3, nil).checkMember("n9", false); !errors.Is(err, ErrNotMember) {
		t.Fatalf("checkMember(n9) = %v; want ErrNotMember", err)
	}
}

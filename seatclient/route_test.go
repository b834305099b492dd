package seatclient

import "testing"

// TestLearnLeader: of the answers about a group's leader, the one with
// the newest term wins, whatever order they come in; a newer term with no
// leader yet unseats the old leader; a node that lost its leader without
// a new term does not.
func TestLearnLeader(t *testing.T) {
	type seen struct {
		id      string
		term    int64
		changes bool
	}
	for _, tc := range []struct {
		name  string
		steps []seen
		want  leadership
	}{
		{"first answer", []seen{{"n1", 3, true}}, leadership{"n1", 3}},
		{"same answer again", []seen{{"n1", 3, true}, {"n1", 3, false}}, leadership{"n1", 3}},
		{"newer term", []seen{{"n1", 3, true}, {"n2", 4, true}}, leadership{"n2", 4}},
		{"older term after a newer", []seen{{"n2", 4, true}, {"n1", 3, false}}, leadership{"n2", 4}},
		{"election under way", []seen{{"n1", 3, true}, {"", 4, true}, {"n1", 3, false}}, leadership{"", 4}},
		{"its winner", []seen{{"n1", 3, true}, {"", 4, true}, {"n3", 4, true}}, leadership{"n3", 4}},
		{"re-elected", []seen{{"n1", 3, true}, {"n1", 5, true}}, leadership{"n1", 5}},
		{"a follower that lost its leader", []seen{{"n1", 3, true}, {"", 3, false}}, leadership{"n1", 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{leader: map[int32]leadership{}}
			for _, s := range tc.steps {
				if got := c.learnLeaderLocked(1, s.id, s.term); got != s.changes {
					t.Fatalf("learnLeaderLocked(%q, %d) = %v; want %v", s.id, s.term, got, s.changes)
				}
			}
			if got := c.leader[1]; got != tc.want {
				t.Fatalf("leader after %v = %v; want %v", tc.steps, got, tc.want)
			}
		})
	}
}

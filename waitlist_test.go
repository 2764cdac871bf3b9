package evently

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestWaitlistTransitions(t *testing.T) {
	all := []WaitlistStatus{WaitlistWaiting, WaitlistOffered, WaitlistBooked, WaitlistExpired, WaitlistLeft}
	allowed := map[[2]WaitlistStatus]bool{
		{WaitlistWaiting, WaitlistOffered}: true, {WaitlistWaiting, WaitlistLeft}: true,
		{WaitlistOffered, WaitlistBooked}: true, {WaitlistOffered, WaitlistExpired}: true, {WaitlistOffered, WaitlistLeft}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMove(to); got != allowed[[2]WaitlistStatus{from, to}] {
				t.Errorf("%s -> %s: %v", from, to, got)
			}
		}
		if from.Active() != (from == WaitlistWaiting || from == WaitlistOffered) {
			t.Errorf("%s active: %v", from, from.Active())
		}
	}
}

func TestValidateParty(t *testing.T) {
	for _, c := range []struct {
		size int
		tier string
		ok   bool
	}{{1, "", true}, {10, "vip", true}, {0, "", false}, {11, "", false}, {-1, "", false}, {2, string(make([]byte, 65)), false}} {
		if err := ValidateParty(c.size, c.tier); (err == nil) != c.ok || (err != nil && ErrorCode(err) != EINVALID) {
			t.Errorf("ValidateParty(%d, %d chars) = %v", c.size, len(c.tier), err)
		}
	}
}

func entry(n byte, size int, tier string) WaitlistEntry {
	return WaitlistEntry{ID: uuid.UUID{n}, PartySize: size, Tier: tier, Status: WaitlistWaiting}
}

// row builds free seats of one row: "A-<n>" for each number.
func row(r string, tier string, nums ...int) []FreeSeat {
	var out []FreeSeat
	for _, n := range nums {
		out = append(out, FreeSeat{ID: r + "-" + string(rune('0'+n)), Section: "S", Row: r, Number: n, Tier: tier})
	}
	return out
}

func TestAllotSeats(t *testing.T) {
	type want map[byte][]string
	for _, c := range []struct {
		name  string
		queue []WaitlistEntry
		free  []FreeSeat
		want  want
		rest  []string
	}{
		{"nobody waits: all back on sale", nil, row("A", "", 1, 2), want{}, []string{"A-1", "A-2"}},
		{"in order of joining", []WaitlistEntry{entry(1, 1, ""), entry(2, 1, "")}, row("A", "", 1, 2),
			want{1: {"A-1"}, 2: {"A-2"}}, nil},
		{"a party gets all its seats or none", []WaitlistEntry{entry(1, 3, "")}, row("A", "", 1, 2), want{}, []string{"A-1", "A-2"}},
		{"a party that does not fit keeps its place, a smaller one behind is served",
			[]WaitlistEntry{entry(1, 2, ""), entry(2, 1, ""), entry(3, 2, "")}, row("A", "", 5),
			want{2: {"A-5"}}, nil},
		{"the head is served first when it fits", []WaitlistEntry{entry(1, 2, ""), entry(2, 1, "")}, row("A", "", 1, 2),
			want{1: {"A-1", "A-2"}}, nil},
		{"adjacent seats in one row preferred",
			[]WaitlistEntry{entry(1, 2, "")}, append(row("A", "", 1, 3), row("B", "", 4, 5)...),
			want{1: {"B-4", "B-5"}}, []string{"A-1", "A-3"}},
		{"else one row, closest together",
			[]WaitlistEntry{entry(1, 2, "")}, append(row("A", "", 1), row("B", "", 2, 6, 8)...),
			want{1: {"B-6", "B-8"}}, []string{"A-1", "B-2"}},
		{"else across rows", []WaitlistEntry{entry(1, 2, "")}, append(row("A", "", 1), row("B", "", 2)...),
			want{1: {"A-1", "B-2"}}, nil},
		{"a tier asked for is respected", []WaitlistEntry{entry(1, 1, "vip"), entry(2, 1, "")},
			append(row("A", "standard", 1), row("B", "vip", 2)...), want{1: {"B-2"}, 2: {"A-1"}}, nil},
		{"entries not waiting are not served", []WaitlistEntry{{ID: uuid.UUID{1}, PartySize: 1, Status: WaitlistOffered}},
			row("A", "", 1), want{}, []string{"A-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			allot, rest := AllotSeats(c.queue, c.free)
			got := want{}
			seen := map[string]bool{}
			for _, a := range allot {
				got[a.EntryID[0]] = a.SeatIDs
				for _, s := range a.SeatIDs {
					if seen[s] {
						t.Errorf("seat %s given twice", s)
					}
					seen[s] = true
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("allotments %v, want %v", got, c.want)
			}
			for id, seats := range c.want {
				if !slices.Equal(got[id], seats) {
					t.Errorf("entry %d got %v, want %v", id, got[id], seats)
				}
			}
			if !slices.Equal(rest, c.rest) {
				t.Errorf("rest %v, want %v", rest, c.rest)
			}
		})
	}
}

func TestDecideOffer(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	later, past := now.Add(time.Minute), now.Add(-time.Second)
	st := func(s BookingStatus) *BookingStatus { return &s }
	for _, c := range []struct {
		name    string
		status  WaitlistStatus
		expires time.Time
		claimed bool
		booking *BookingStatus
		want    OfferFate
	}{
		{"live, untouched", WaitlistOffered, later, false, nil, OfferStands},
		{"expired, untouched", WaitlistOffered, past, false, nil, OfferLapsed},
		{"declined (left) before expiry", WaitlistLeft, later, false, nil, OfferLapsed},
		{"claimed, booking not written yet", WaitlistOffered, past, true, nil, OfferStands},
		{"claimed long ago, booking never written", WaitlistOffered, now.Add(-time.Hour), true, nil, OfferLapsed},
		{"booked: reserved", WaitlistOffered, later, false, st(BookingReserved), OfferBooked},
		{"booked: confirmed after expiry", WaitlistOffered, past, false, st(BookingConfirmed), OfferBooked},
		{"its booking failed", WaitlistOffered, later, false, st(BookingFailed), OfferLapsed},
		{"left, but its booking holds the seats", WaitlistLeft, later, true, st(BookingPaying), OfferBooked},
	} {
		if got := DecideOffer(c.status, c.expires, now, c.claimed, c.booking, 2*time.Minute); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

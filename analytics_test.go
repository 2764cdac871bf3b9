package evently

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSalesDeltas(t *testing.T) {
	a := uuid.MustParse("00000000-0000-0000-0000-00000000000a")
	b := uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	paid := BookTransitions(a, []BookingStatus{BookingReserved, BookingPaying, BookingConfirmed}, "", 2, 3000)
	for _, tc := range []struct {
		name string
		in   []Transition
		want []SalesDelta
	}{
		{"nothing", nil, []SalesDelta{}},
		{"confirmed in its commit", paid,
			[]SalesDelta{{EventID: a, Submitted: 1, Reserved: 1, Confirmed: 1, SeatsSold: 2, RevenueCents: 3000}}},
		{"seats taken: a failure of its own reason",
			BookTransitions(b, []BookingStatus{BookingFailed}, ReasonSeatsTaken, 1, 0),
			[]SalesDelta{{EventID: b, Submitted: 1}, {EventID: b, Reason: ReasonSeatsTaken, Failed: 1}}},
		{"declined and unavailable, two events, sorted by event then reason",
			[]Transition{
				{EventID: b, From: BookingPaying, To: BookingFailed, Reason: ReasonPaymentUnavailable},
				{EventID: a, From: BookingPaying, To: BookingFailed, Reason: ReasonPaymentDeclined},
				{EventID: b, From: BookingPaying, To: BookingFailed, Reason: ReasonPaymentDeclined},
			},
			[]SalesDelta{{EventID: a, Reason: ReasonPaymentDeclined, Failed: 1},
				{EventID: b, Reason: ReasonPaymentDeclined, Failed: 1}, {EventID: b, Reason: ReasonPaymentUnavailable, Failed: 1}}},
		{"a confirmed booking cancelled gives its seats back, not its revenue (refunds count apart)",
			append(paid, Transition{EventID: a, From: BookingConfirmed, To: BookingCancelled, Reason: "changed my mind", Seats: 2, AmountCents: 3000}),
			[]SalesDelta{{EventID: a, Submitted: 1, Reserved: 1, Confirmed: 1, Cancelled: 1, RevenueCents: 3000}}},
		{"a reserved booking cancelled or expired sold nothing",
			[]Transition{{EventID: a, From: BookingReserved, To: BookingCancelled, Seats: 3},
				{EventID: a, From: BookingReserved, To: BookingExpired, Seats: 1}},
			[]SalesDelta{{EventID: a, Cancelled: 1, Expired: 1}}},
		{"paying counts nothing", []Transition{{EventID: a, From: BookingReserved, To: BookingPaying}}, []SalesDelta{}},
	} {
		if got := SalesDeltas(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseDayRange(t *testing.T) {
	now := time.Date(2026, 6, 10, 23, 30, 0, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(DateLayout, s); return d }
	for _, tc := range []struct {
		name           string
		from, to       string
		hasFrom, hasTo bool
		want           DayRange
		bad            []string
	}{
		{name: "defaults: the last 30 days", want: DayRange{From: day("2026-05-12"), To: day("2026-06-10")}},
		{name: "both", from: "2026-01-01", to: "2026-01-31", hasFrom: true, hasTo: true, want: DayRange{From: day("2026-01-01"), To: day("2026-01-31")}},
		{name: "one day", from: "2026-01-01", to: "2026-01-01", hasFrom: true, hasTo: true, want: DayRange{From: day("2026-01-01"), To: day("2026-01-01")}},
		{name: "to only", to: "2026-03-31", hasTo: true, want: DayRange{From: day("2026-03-02"), To: day("2026-03-31")}},
		{name: "present but empty", hasTo: true, bad: []string{"to"}},
		{name: "a time is not a date", from: "2026-01-01T00:00:00Z", hasFrom: true, bad: []string{"from"}},
		{name: "no such day", from: "2026-02-30", hasFrom: true, bad: []string{"from"}},
		{name: "both bad", from: "x", to: "y", hasFrom: true, hasTo: true, bad: []string{"from", "to"}},
		{name: "from after to", from: "2026-02-02", to: "2026-02-01", hasFrom: true, hasTo: true, bad: []string{"from"}},
		{name: "367 days: too long", from: "2024-12-31", to: "2026-01-01", hasFrom: true, hasTo: true, bad: []string{"from"}},
		{name: "366 days", from: "2025-01-01", to: "2026-01-01", hasFrom: true, hasTo: true, want: DayRange{From: day("2025-01-01"), To: day("2026-01-01")}},
	} {
		got, err := ParseDayRange(tc.from, tc.to, tc.hasFrom, tc.hasTo, now)
		if tc.bad == nil {
			if err != nil || got != tc.want {
				t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
			}
			continue
		}
		e := AsError(err)
		if e == nil || e.Code != EINVALID || len(e.Fields) != len(tc.bad) {
			t.Errorf("%s: got %v, want invalid %v", tc.name, err, tc.bad)
			continue
		}
		for _, f := range tc.bad {
			if e.Fields[f] == "" {
				t.Errorf("%s: no problem named %s in %v", tc.name, f, e.Fields)
			}
		}
	}
}

func TestRatesAndTopEvents(t *testing.T) {
	for _, tc := range []struct {
		part, whole int64
		want        float64
	}{{0, 0, 0}, {1, 3, 0.3333}, {2, 3, 0.6667}, {5, 5, 1}, {3, -1, 0}} {
		if got := Rate(tc.part, tc.whole); got != tc.want {
			t.Errorf("Rate(%d, %d) = %v, want %v", tc.part, tc.whole, got, tc.want)
		}
	}
	a, b, c := uuid.UUID{1}, uuid.UUID{2}, uuid.UUID{3}
	got := TopEvents([]EventFigures{{EventID: a, SeatsSold: 1}, {EventID: b, SeatsSold: 5}, {EventID: c, SeatsSold: 5, Confirmed: 2}}, 2)
	if len(got) != 2 || got[0].EventID != c || got[1].EventID != b {
		t.Errorf("TopEvents: %+v", got)
	}
}

func TestDayFiguresAdd(t *testing.T) {
	tests := []struct {
		name string
		adds []DayFigures
		want DayFigures
	}{
		{"nothing", nil, DayFigures{Revenue: map[string]int64{}}},
		{"counts add up", []DayFigures{
			{Submitted: 3, Reserved: 2, Confirmed: 1, Failed: 1, SeatsSold: 4, WaitlistJoin: 2, Offers: 1},
			{Submitted: 1, Expired: 1, Cancelled: 1, Refunded: 1, Conversions: 1},
		}, DayFigures{Submitted: 4, Reserved: 2, Confirmed: 1, Failed: 1, Expired: 1, Cancelled: 1, Refunded: 1,
			SeatsSold: 4, WaitlistJoin: 2, Offers: 1, Conversions: 1, Revenue: map[string]int64{}}},
		{"revenue by currency, zeros left out", []DayFigures{
			{Revenue: map[string]int64{"EUR": 500, "USD": 0}},
			{Revenue: map[string]int64{"EUR": 250, "GBP": 100}},
		}, DayFigures{Revenue: map[string]int64{"EUR": 750, "GBP": 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got DayFigures
			if len(tt.adds) == 0 {
				got.Add(DayFigures{})
			}
			for _, a := range tt.adds {
				got.Add(a)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
